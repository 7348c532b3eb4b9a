// Dense / autoencoder family (twins of reference.activation_forward, activation_backward,
// dense_forward, dense_backward, sparsity_grad, mask_corrupt, gaussian_corrupt; the CuPy
// face does x W, dz W^T, x^T dz with cuBLAS and db with column_sums from common.cuh).
//
// Kernels (T = float, double):
//   activation<T>           element-wise   a = f(z + b)      linear, sigmoid, tanh, relu
//   softmax_rows<T>         a block a row  a = softmax(z + b)
//   activation_grad<T>      element-wise   dz = da f'(z), from a
//   softmax_grad_rows<T>    a block a row  dz = a (da - sum_j da_j a_j)
//   sparsity_terms<T>       a thread a column   KL_j and its gradient g_j
//   broadcast_rows<T>       element-wise   out[i, j] = g[j]
//   mask_corrupt<T>         element-wise   x 1[u >= p]
//   gaussian_corrupt<T>     element-wise   x + std z
//
// Launch geometry: element-wise and column kernels: 1-d grid-stride loops, any block
// size.  Row kernels: one block per row in a grid-stride loop over rows, blockDim.x a
// power of two <= DEEPBIO_MAX_BLOCK (256); shared memory one T buffer of 256 entries.
// The bias b may be NULL (no bias), and `activation` / `softmax_rows` may run in place
// (out == z: dense_forward applies f to the product it just wrote), so those pointers
// are not __restrict__.
#include "common.cuh"

// --8<-- [start:activation]
// a = f(z + b) elementwise over z (N, D), b (D,) or NULL
template <typename T>
__global__ void activation(const T* z, const T* __restrict__ b, T* out, long long n,
                           long long d, int act) {
    for (long long k = grid_start(); k < n; k += grid_stride())
        out[k] = activate(act, b ? z[k] + b[k % d] : z[k]);
}

// Row i of z (N, D):  zb = z + b,  a_k = e^(zb_k - max zb) / sum_j e^(zb_j - max zb)
template <typename T>
__global__ void softmax_rows(const T* z, const T* __restrict__ b, T* out, long long n,
                             long long d) {
    __shared__ T buf[DEEPBIO_MAX_BLOCK];
    for (long long i = blockIdx.x; i < n; i += gridDim.x) {
        const T* zi = z + i * d;
        T* oi = out + i * d;
        // m = max_k zb_k, starting from zb_0 (NaN wins: the row is then NaN, as in the
        // reference)
        T m = b ? zi[0] + b[0] : zi[0];
        for (long long k = threadIdx.x; k < d; k += blockDim.x) {
            T v = b ? zi[k] + b[k] : zi[k];
            m = (v > m || v != v) ? v : m;
        }
        m = block_max(m, buf);
        // e_k = exp(zb_k - m) into the output; s = sum_k e_k
        T s = T(0);
        for (long long k = threadIdx.x; k < d; k += blockDim.x) {
            T e = d_exp((b ? zi[k] + b[k] : zi[k]) - m);
            oi[k] = e;
            s += e;
        }
        s = block_sum(s, buf);
        // a_k = e_k / s  (each thread divides the entries it wrote)
        for (long long k = threadIdx.x; k < d; k += blockDim.x) oi[k] = oi[k] / s;
    }
}

// dz = da f'(z) from the output a: linear da; sigmoid da a (1 - a); tanh da (1 - a^2);
// relu da 1[a > 0]   (elementwise)
template <typename T>
__global__ void activation_grad(const T* __restrict__ a, const T* __restrict__ da,
                                T* __restrict__ dz, long long n, int act) {
    for (long long k = grid_start(); k < n; k += grid_stride())
        dz[k] = activate_backward(act, a[k], da[k]);
}

// Row i:  s = sum_j da_j a_j,  dz_k = a_k (da_k - s)
template <typename T>
__global__ void softmax_grad_rows(const T* __restrict__ a, const T* __restrict__ da,
                                  T* __restrict__ dz, long long n, long long d) {
    __shared__ T buf[DEEPBIO_MAX_BLOCK];
    for (long long i = blockIdx.x; i < n; i += gridDim.x) {
        T s = T(0);
        for (long long k = threadIdx.x; k < d; k += blockDim.x) s += da[i * d + k] * a[i * d + k];
        s = block_sum(s, buf);
        for (long long k = threadIdx.x; k < d; k += blockDim.x)
            dz[i * d + k] = a[i * d + k] * (da[i * d + k] - s);
    }
}
// --8<-- [end:activation]

// --8<-- [start:sparsity_grad]
// Column j, from rho_hat_j = mean_n a_nj (column_sums) clipped to [lo, hi] = [eps, 1 - eps]:
//   KL_j = rho log(rho / rho_hat_j) + (1 - rho) log((1 - rho) / (1 - rho_hat_j))
//   g_j  = (beta / N) (-rho / rho_hat_j + (1 - rho) / (1 - rho_hat_j))
// r = rho, omr = 1 - rho, bn = beta / N, each rounded once to T (as NumPy casts them).
template <typename T>
__global__ void sparsity_terms(const T* __restrict__ rho_hat, T* __restrict__ kl,
                               T* __restrict__ g, long long h, T r, T omr, T bn, T lo, T hi) {
    for (long long j = grid_start(); j < h; j += grid_stride()) {
        T rh = rho_hat[j];
        rh = rh < lo ? lo : rh;
        rh = rh > hi ? hi : rh;
        kl[j] = r * d_log(r / rh) + omr * d_log(omr / (T(1) - rh));
        g[j] = bn * (-r / rh + omr / (T(1) - rh));
    }
}

// out[i, j] = g[j] for out (N, H): the sparsity gradient is the same for every row
template <typename T>
__global__ void broadcast_rows(const T* __restrict__ g, T* __restrict__ out, long long n,
                               long long h) {
    for (long long k = grid_start(); k < n; k += grid_stride()) out[k] = g[k % h];
}
// --8<-- [end:sparsity_grad]

// x_tilde = x 1[u >= p]   (elementwise; p rounded to T, as NumPy compares)
template <typename T>
__global__ void mask_corrupt(const T* __restrict__ x, const T* __restrict__ u,
                             T* __restrict__ out, long long n, T p) {
    for (long long k = grid_start(); k < n; k += grid_stride())
        out[k] = x[k] * (u[k] >= p ? T(1) : T(0));
}

// x_tilde = x + std z,  z = sqrt(-2 log(1 - u1)) cos(2 pi u2)   (elementwise)
template <typename T>
__global__ void gaussian_corrupt(const T* __restrict__ x, const T* __restrict__ u1,
                                 const T* __restrict__ u2, T* __restrict__ out, long long n,
                                 T std) {
    for (long long k = grid_start(); k < n; k += grid_stride())
        out[k] = x[k] + std * standard_normal(u1[k], u2[k]);
}

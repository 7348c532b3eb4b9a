// RBM family (twins of reference.sigmoid_bernoulli, gaussian_sample, cd_statistics,
// free_energy; the CuPy face in __init__.py does the matrix products with cuBLAS).
//
// Kernels (T = float, double):
//   sigmoid_bernoulli<T>       element-wise          p = sigm(x), s = 1[u < p]
//   gaussian_sample<T>         element-wise          v = mean + sigma z (Box-Muller)
//   column_sums<T>             one thread a column   db, dc of cd_statistics (common.cuh)
//   gaussian_visible_terms<T>  one block a row       v / sigma and sum ((v - b) / sigma)^2 / 2
//   free_energy_rows<T>        one block a row       F = base - sum_j softplus(Z + c)
//
// Launch geometry: element-wise and column kernels: 1-d grid-stride loops, any block
// size.  Row kernels: one block per row in a grid-stride loop over rows, blockDim.x a
// power of two <= DEEPBIO_MAX_BLOCK (256), shared memory: one T buffer of 256 entries for
// the block sum (1 KiB float, 2 KiB double).  cd_statistics' dW = (v0^T h0 - vk^T hk) / N
// and free_energy's v W, v . b are cuBLAS products in the face.
#include "common.cuh"

// --8<-- [start:sigmoid_bernoulli]
// p = 1 / (1 + exp(-x)),  s = 1[u < p]   (elementwise over n entries)
template <typename T>
__global__ void sigmoid_bernoulli(const T* __restrict__ x, const T* __restrict__ u,
                                  T* __restrict__ p, T* __restrict__ s, long long n) {
    for (long long k = grid_start(); k < n; k += grid_stride()) {
        T pk = sigmoid(x[k]);
        p[k] = pk;
        s[k] = u[k] < pk ? T(1) : T(0);
    }
}
// --8<-- [end:sigmoid_bernoulli]

// --8<-- [start:gaussian_sample]
// v = mean + sigma z,  z = sqrt(-2 log(1 - u1)) cos(2 pi u2);  mean, u1, u2, v (N, D), sigma (D,)
template <typename T>
__global__ void gaussian_sample(const T* __restrict__ mean, const T* __restrict__ sigma,
                                const T* __restrict__ u1, const T* __restrict__ u2,
                                T* __restrict__ v, long long n, long long d) {
    for (long long k = grid_start(); k < n; k += grid_stride())
        v[k] = mean[k] + sigma[k % d] * standard_normal(u1[k], u2[k]);
}
// --8<-- [end:gaussian_sample]

// --8<-- [start:free_energy]
// Gaussian visibles, row i of v (N, D):  vs = v / sigma  and
// quad_i = sum_k ((v_ik - b_k) / sigma_k)^2 / 2
template <typename T>
__global__ void gaussian_visible_terms(const T* __restrict__ v, const T* __restrict__ b,
                                       const T* __restrict__ sigma, T* __restrict__ vs,
                                       T* __restrict__ quad, long long n, long long d) {
    __shared__ T buf[DEEPBIO_MAX_BLOCK];
    for (long long i = blockIdx.x; i < n; i += gridDim.x) {
        T acc = T(0);
        for (long long k = threadIdx.x; k < d; k += blockDim.x) {
            T q = (v[i * d + k] - b[k]) / sigma[k];
            acc += q * q;
            vs[i * d + k] = v[i * d + k] / sigma[k];
        }
        acc = block_sum(acc, buf);
        if (threadIdx.x == 0) quad[i] = acc / T(2);
    }
}

// F_i = base_i - sum_j softplus(Z_ij + c_j),  Z (N, H), c (H,), base (N,):
// base = -(v . b) (Bernoulli visibles) or quad (Gaussian)
template <typename T>
__global__ void free_energy_rows(const T* __restrict__ z, const T* __restrict__ c,
                                 const T* __restrict__ base, T* __restrict__ f, long long n,
                                 long long h) {
    __shared__ T buf[DEEPBIO_MAX_BLOCK];
    for (long long i = blockIdx.x; i < n; i += gridDim.x) {
        T acc = T(0);
        for (long long j = threadIdx.x; j < h; j += blockDim.x)
            acc += softplus(z[i * h + j] + c[j]);
        acc = block_sum(acc, buf);
        if (threadIdx.x == 0) f[i] = base[i] - acc;
    }
}
// --8<-- [end:free_energy]

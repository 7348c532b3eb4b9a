// Optimiser family (twins of reference.clip_scale, sgd_update, adam_update,
// rmsprop_update).  Each update is one element-wise pass over the flat parameter vector,
// in place on the parameters and the optimiser state; the scalar constants (bias
// corrections, 1 - beta, ...) are computed by the face in double and passed in T.
//
// Kernels (T = float, double):
//   sq_norm_partial<T>  grid-stride + block sum   partial[block] = sum (grad + wd param)^2
//   clip_factor<T>      one block                 scale[0] = min(1, c / max(sqrt(sum), 1e-30))
//   sgd_update<T>       element-wise              momentum / Nesterov, L2 decay, scale
//   adam_update<T>      element-wise              Adam / AdamW, AMSGrad when vmax != NULL
//   rmsprop_update<T>   element-wise              centered when ga != NULL, momentum when
//                                                 buf != NULL
//
// The norm is summed in double: per block in its tree order, then the block sums in one
// block, so for a given launch geometry the result is deterministic.  Launch geometry:
// any grid for the element-wise kernels; blockDim.x a power of two <= DEEPBIO_MAX_BLOCK
// for the two reductions.  scale may be NULL (no clipping) in the updates.
#include "common.cuh"

template <typename T>
__device__ __forceinline__ T scaled_grad(const T* __restrict__ grad, const T* param,
                                         const T* __restrict__ scale, T wd, long long k) {
    T g = wd != T(0) ? grad[k] + wd * param[k] : grad[k];
    return scale ? g * scale[0] : g;
}

template <typename T>
__global__ void sq_norm_partial(const T* __restrict__ grad, const T* __restrict__ param,
                                T wd, double* __restrict__ partial, long long n) {
    __shared__ double buf[DEEPBIO_MAX_BLOCK];
    double acc = 0.0;
    for (long long k = grid_start(); k < n; k += grid_stride()) {
        T g = wd != T(0) ? grad[k] + wd * param[k] : grad[k];
        acc += (double)g * (double)g;
    }
    double s = block_sum(acc, buf);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

template <typename T>
__global__ void clip_factor(const double* __restrict__ partial, long long parts,
                            double clip_norm, T* __restrict__ scale) {
    __shared__ double buf[DEEPBIO_MAX_BLOCK];
    double acc = 0.0;
    for (long long k = threadIdx.x; k < parts; k += blockDim.x) acc += partial[k];
    double s = block_sum(acc, buf);
    if (threadIdx.x == 0) {
        double norm = sqrt(s);
        double f = clip_norm / (norm > 1e-30 ? norm : 1e-30);
        scale[0] = T(f < 1.0 ? f : 1.0);
    }
}

// v = mu v - lr g;  param += v  (classical)  or  param += mu v - lr g  (Nesterov)
template <typename T>
__global__ void sgd_update(T* param, const T* __restrict__ grad, T* __restrict__ velocity,
                           const T* __restrict__ scale, T lr, T mu, T wd, int nesterov,
                           long long n) {
    for (long long k = grid_start(); k < n; k += grid_stride()) {
        T g = scaled_grad(grad, param, scale, wd, k);
        T v = velocity[k] * mu;
        v = v - lr * g;
        velocity[k] = v;
        param[k] = nesterov ? param[k] + (mu * v - lr * g) : param[k] + v;
    }
}

// m += c1 (g - m);  v = b2 v + c2 g g;  vmax = max(vmax, v);
// param = param shrink - step_size (m / (sqrt(v_hat) / root_bc2 + eps))
template <typename T>
__global__ void adam_update(T* param, const T* __restrict__ grad, T* __restrict__ m,
                            T* __restrict__ v, T* __restrict__ vmax,
                            const T* __restrict__ scale, T step_size, T root_bc2, T c1,
                            T b2, T c2, T eps, T wd, T shrink, int decoupled, long long n) {
    for (long long k = grid_start(); k < n; k += grid_stride()) {
        T p = param[k];
        T g = scaled_grad(grad, param, scale, wd, k);
        if (decoupled) p = p * shrink;
        T mk = m[k];
        mk = mk + c1 * (g - mk);
        T vk = v[k] * b2;
        vk = vk + c2 * g * g;
        m[k] = mk;
        v[k] = vk;
        T vh = vk;
        if (vmax) {
            vh = vmax[k] >= vk ? vmax[k] : vk;
            vmax[k] = vh;
        }
        param[k] = p - step_size * (mk / (d_sqrt(vh) / root_bc2 + eps));
    }
}

// s = alpha s + ca g g;  a += ca (g - a);  d = sqrt(s - a a) + eps (or sqrt(s) + eps);
// buf = mu buf + g / d, param -= lr buf   (buf given)   or   param -= lr (g / d)
template <typename T>
__global__ void rmsprop_update(T* param, const T* __restrict__ grad, T* __restrict__ sq,
                               T* __restrict__ ga, T* __restrict__ buf,
                               const T* __restrict__ scale, T lr, T alpha, T ca, T eps, T mu,
                               T wd, long long n) {
    for (long long k = grid_start(); k < n; k += grid_stride()) {
        T g = scaled_grad(grad, param, scale, wd, k);
        T s = sq[k] * alpha;
        s = s + ca * g * g;
        sq[k] = s;
        T d;
        if (ga) {
            T a = ga[k];
            a = a + ca * (g - a);
            ga[k] = a;
            d = d_sqrt(s - a * a) + eps;
        } else {
            d = d_sqrt(s) + eps;
        }
        if (buf) {
            T b = buf[k] * mu;
            b = b + g / d;
            buf[k] = b;
            param[k] = param[k] - lr * b;
        } else {
            param[k] = param[k] - lr * (g / d);
        }
    }
}

// deepbio CUDA kernels: helpers shared by every .cu file of this folder.
//
// Included by each family's .cu (NVRTC finds it through the -I option the CuPy face
// passes; nvcc and the host test harness through the file's own folder).  No standard
// header is included: NVRTC has none, and the math functions used (expf, exp, log1pf,
// ...) are CUDA built-ins (on the host, cuda_host.h provides them from <cmath>).
//
// * scalar maths overloaded for float and double (d_exp, d_tanh, ...), computed in the
//   argument's own precision, constants cast to it, as NumPy computes for that dtype;
// * sigmoid, softplus and Box-Muller in the reference's operation order;
// * activation codes (the order of reference.ACTIVATIONS);
// * block reductions for the row kernels: blockDim.x must be a power of two no larger
//   than DEEPBIO_MAX_BLOCK (the shared buffers are that long).
//
// Index arithmetic is in long long (arrays may exceed 2^31 elements); every loop count
// comes from the kernel's arguments, never from the launch grid (grid-stride loops).
#pragma once

#define DEEPBIO_MAX_BLOCK 256

// activation codes, in the order of reference.ACTIVATIONS
#define ACT_LINEAR 0
#define ACT_SIGMOID 1
#define ACT_TANH 2
#define ACT_RELU 3
#define ACT_SOFTMAX 4

// ------------------------------------------------------------- scalar maths (T = float / double)

__device__ __forceinline__ float d_exp(float x) { return expf(x); }
__device__ __forceinline__ double d_exp(double x) { return exp(x); }
__device__ __forceinline__ float d_log(float x) { return logf(x); }
__device__ __forceinline__ double d_log(double x) { return log(x); }
__device__ __forceinline__ float d_log1p(float x) { return log1pf(x); }
__device__ __forceinline__ double d_log1p(double x) { return log1p(x); }
__device__ __forceinline__ float d_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double d_tanh(double x) { return tanh(x); }
__device__ __forceinline__ float d_cos(float x) { return cosf(x); }
__device__ __forceinline__ double d_cos(double x) { return cos(x); }
__device__ __forceinline__ float d_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double d_sqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float d_fabs(float x) { return fabsf(x); }
__device__ __forceinline__ double d_fabs(double x) { return fabs(x); }

// first index of a grid-stride loop, and its stride
__device__ __forceinline__ long long grid_start() {
    return (long long)blockIdx.x * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ long long grid_stride() {
    return (long long)blockDim.x * gridDim.x;
}

// Logistic 1 / (1 + exp(-x)) without overflow: with e = exp(-|x|) in (0, 1],
// x >= 0: 1 / (1 + e);  x < 0: e / (1 + e).   (reference._sigmoid)
template <typename T>
__device__ __forceinline__ T sigmoid(T x) {
    T e = d_exp(-d_fabs(x));
    return (x >= T(0) ? T(1) : e) / (T(1) + e);
}

// softplus(x) = log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|))   (reference._softplus)
template <typename T>
__device__ __forceinline__ T softplus(T x) {
    return (x < T(0) ? T(0) : x) + d_log1p(d_exp(-d_fabs(x)));
}

// Box-Muller: z = sqrt(-2 log(1 - u1)) cos(2 pi u2) ~ N(0, 1)   (reference._standard_normal)
template <typename T>
__device__ __forceinline__ T standard_normal(T u1, T u2) {
    return d_sqrt(T(-2.0) * d_log1p(-u1)) * d_cos(T(2.0 * 3.14159265358979323846) * u2);
}

// f(z) for the element-wise activations (softmax is row-wise: dense.cu)
template <typename T>
__device__ __forceinline__ T activate(int act, T z) {
    if (act == ACT_SIGMOID) return sigmoid(z);
    if (act == ACT_TANH) return d_tanh(z);
    if (act == ACT_RELU) return z < T(0) ? T(0) : z;      // NaN propagates, like np.maximum
    return z;                                              // linear
}

// da f'(z) written with the output a = f(z) (softmax is row-wise: dense.cu)
template <typename T>
__device__ __forceinline__ T activate_backward(int act, T a, T da) {
    if (act == ACT_SIGMOID) return da * a * (T(1) - a);    // da a (1 - a)
    if (act == ACT_TANH) return da * (T(1) - a * a);       // da (1 - a^2)
    if (act == ACT_RELU) return da * (a > T(0) ? T(1) : T(0));   // da 1[a > 0]
    return da;                                             // linear
}

// ------------------------------------------------------------------- block reductions

// Sum of v over the threads of the block (every thread gets it); `buf` is a __shared__
// array of DEEPBIO_MAX_BLOCK entries.  Tree order: buf[t] += buf[t + s], s = B/2, ..., 1.
// Every thread of the block must call it (it synchronises).
template <typename T>
__device__ __forceinline__ T block_sum(T v, T* buf) {
    unsigned int t = threadIdx.x;
    buf[t] = v;
    __syncthreads();
    for (unsigned int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (t < s) buf[t] += buf[t + s];
        __syncthreads();
    }
    T r = buf[0];
    __syncthreads();        // buf may be reused at once
    return r;
}

// Maximum of v over the block, NaN winning (as in np.max); same rules as block_sum.
template <typename T>
__device__ __forceinline__ T block_max(T v, T* buf) {
    unsigned int t = threadIdx.x;
    buf[t] = v;
    __syncthreads();
    for (unsigned int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (t < s) {
            T a = buf[t], b = buf[t + s];
            buf[t] = (b > a || b != b) ? b : a;
        }
        __syncthreads();
    }
    T r = buf[0];
    __syncthreads();
    return r;
}

// ---------------------------------------------------------------------- column sums

// out[j] = scale * sum_i (a[i, j] - b[i, j])  (b may be NULL: sum_i a[i, j]),
// a, b (n, d) C-contiguous; one thread per column, rows added one after another (the
// order of NumPy's axis-0 sum), so neighbouring threads read neighbouring addresses.
// scale = 1: a plain sum; 1/n: a mean (divided, as NumPy does: sum / n).
template <typename T>
__global__ void column_sums(const T* __restrict__ a, const T* __restrict__ b,
                            T* __restrict__ out, long long n, long long d, int mean) {
    for (long long j = grid_start(); j < d; j += grid_stride()) {
        T acc = T(0);
        for (long long i = 0; i < n; ++i)
            acc += b ? a[i * d + j] - b[i * d + j] : a[i * d + j];
        out[j] = mean ? acc / T(n) : acc;
    }
}

// Pooling family (twins of reference.maxpool2d_forward / _backward, avgpool2d_forward /
// _backward and their 1-d versions).  No padding; OH = (H - KH) // sh + 1.
//
// Kernels (T = float, double):
//   maxpool2d<T>        one thread per output   y, argmax (flat h W + v in its plane)
//   avgpool2d<T>        one thread per output   y = window mean
//   avgpool2d_grad<T>   one thread per input    dx = sum of dy / (KH KW) over its windows
//   maxpool1d<T>, avgpool1d<T>, avgpool1d_grad<T>   the same along L
//   maxpool_grad<T>     one thread per output   dx[plane, argmax] += dy  (1-d and 2-d)
//
// Launch geometry: 1-d grid-stride loops, any block size, no shared memory.
// maxpool_grad scatters with atomicAdd into a zeroed dx: where windows overlap
// (stride < kernel) the order of the additions onto one input is not fixed, so such a
// sum may differ from the reference's in its last bits; without overlap every input gets
// at most one addition and the result is exact.  avgpool*_grad gathers instead (it knows
// the kernel and stride), in the reference's (p, q) order, and is deterministic.
#include "common.cuh"

// --8<-- [start:maxpool2d]
// y[nc, i, j] = max_{p < KH, q < KW} x[nc, i sh + p, j sw + q]; argmax = (i sh + p) W + j sw + q
// of the first maximum in row-major window order; the first NaN wins (as numpy.argmax)
template <typename T>
__global__ void maxpool2d(const T* __restrict__ x, T* __restrict__ y,
                          long long* __restrict__ argmax, long long total, long long h,
                          long long w, long long kh, long long kw, long long sh, long long sw,
                          long long oh, long long ow) {
    for (long long k = grid_start(); k < total; k += grid_stride()) {
        long long j = k % ow, i = (k / ow) % oh, nc = k / (ow * oh);
        const T* xp = x + nc * h * w;
        long long arg = (i * sh) * w + j * sw;
        T m = xp[arg];
        for (long long p = 0; p < kh; ++p)
            for (long long q = 0; q < kw; ++q) {
                long long at = (i * sh + p) * w + j * sw + q;
                T v = xp[at];
                if (v > m || (v != v && m == m)) {     // strictly greater, or the first NaN
                    m = v;
                    arg = at;
                }
            }
        y[k] = m;
        argmax[k] = arg;
    }
}
// --8<-- [end:maxpool2d]

// y[nc, i, j] = sum_{p, q} x[nc, i sh + p, j sw + q] / (KH KW)
template <typename T>
__global__ void avgpool2d(const T* __restrict__ x, T* __restrict__ y, long long total,
                          long long h, long long w, long long kh, long long kw, long long sh,
                          long long sw, long long oh, long long ow) {
    for (long long k = grid_start(); k < total; k += grid_stride()) {
        long long j = k % ow, i = (k / ow) % oh, nc = k / (ow * oh);
        const T* xp = x + nc * h * w + (i * sh) * w + j * sw;
        T acc = T(0);
        for (long long p = 0; p < kh; ++p)
            for (long long q = 0; q < kw; ++q) acc += xp[p * w + q];
        y[k] = acc / T(kh * kw);
    }
}

// --8<-- [start:avgpool2d_backward]
// dx[nc, r, v] = sum over windows (i, j) holding (r, v) = (i sh + p, j sw + q) of
//                dy[nc, i, j] / (KH KW)
template <typename T>
__global__ void avgpool2d_grad(const T* __restrict__ dy, T* __restrict__ dx, long long total,
                               long long h, long long w, long long kh, long long kw,
                               long long sh, long long sw, long long oh, long long ow) {
    for (long long k = grid_start(); k < total; k += grid_stride()) {
        long long v = k % w, r = (k / w) % h, nc = k / (w * h);
        const T* dyp = dy + nc * oh * ow;
        T acc = T(0);
        for (long long p = 0; p < kh; ++p) {
            long long ip = r - p;                      // = i sh
            if (ip < 0 || ip % sh != 0 || ip / sh >= oh) continue;
            for (long long q = 0; q < kw; ++q) {
                long long jq = v - q;                  // = j sw
                if (jq < 0 || jq % sw != 0 || jq / sw >= ow) continue;
                acc += dyp[(ip / sh) * ow + jq / sw] / T(kh * kw);
            }
        }
        dx[k] = acc;
    }
}
// --8<-- [end:avgpool2d_backward]

// y[nc, i] = max_{p < K} x[nc, i s + p]; argmax = i s + p of the first maximum (first NaN)
template <typename T>
__global__ void maxpool1d(const T* __restrict__ x, T* __restrict__ y,
                          long long* __restrict__ argmax, long long total, long long l,
                          long long kl, long long s, long long ol) {
    for (long long k = grid_start(); k < total; k += grid_stride()) {
        long long i = k % ol, nc = k / ol;
        const T* xp = x + nc * l;
        long long arg = i * s;
        T m = xp[arg];
        for (long long p = 1; p < kl; ++p) {
            T v = xp[i * s + p];
            if (v > m || (v != v && m == m)) {
                m = v;
                arg = i * s + p;
            }
        }
        y[k] = m;
        argmax[k] = arg;
    }
}

// y[nc, i] = sum_{p < K} x[nc, i s + p] / K
template <typename T>
__global__ void avgpool1d(const T* __restrict__ x, T* __restrict__ y, long long total,
                          long long l, long long kl, long long s, long long ol) {
    for (long long k = grid_start(); k < total; k += grid_stride()) {
        long long i = k % ol, nc = k / ol;
        const T* xp = x + nc * l + i * s;
        T acc = T(0);
        for (long long p = 0; p < kl; ++p) acc += xp[p];
        y[k] = acc / T(kl);
    }
}

// dx[nc, r] = sum over windows i holding r = i s + p of dy[nc, i] / K
template <typename T>
__global__ void avgpool1d_grad(const T* __restrict__ dy, T* __restrict__ dx, long long total,
                               long long l, long long kl, long long s, long long ol) {
    for (long long k = grid_start(); k < total; k += grid_stride()) {
        long long r = k % l, nc = k / l;
        T acc = T(0);
        for (long long p = 0; p < kl; ++p) {
            long long ip = r - p;                      // = i s
            if (ip < 0 || ip % s != 0 || ip / s >= ol) continue;
            acc += dy[nc * ol + ip / s] / T(kl);
        }
        dx[k] = acc;
    }
}

// --8<-- [start:maxpool_backward]
// dx[nc, argmax[nc, o]] += dy[nc, o] for every output o of every plane nc; dx zeroed by
// the caller; `plane_out` outputs and `plane_in` inputs per plane (OH OW and H W, or OL and L)
template <typename T>
__global__ void maxpool_grad(const T* __restrict__ dy, const long long* __restrict__ argmax,
                             T* __restrict__ dx, long long total, long long plane_out,
                             long long plane_in) {
    for (long long k = grid_start(); k < total; k += grid_stride())
        atomicAdd(&dx[(k / plane_out) * plane_in + argmax[k]], dy[k]);
}
// --8<-- [end:maxpool_backward]

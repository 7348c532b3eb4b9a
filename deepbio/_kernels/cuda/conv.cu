// Convolution family: im2col and col2im, so that every convolution is im2col + one
// cuBLAS product (twins of reference._im2col / reference._col2im; the CuPy face does
// conv2d_forward = w (F, K) @ cols (N, K, P) + b, conv2d_backward_input = col2im(w^T @ dy),
// conv2d_backward_weight = sum_n dy_n cols_n^T; likewise conv1d).
//
// Kernels (T = float, double):
//   im2col2d<T>   one thread per cols entry    cols (N, C, KH, KW, OH, OW) from x (N, C, H, W)
//   col2im2d<T>   one thread per dx entry      dx (N, C, H, W): the sum of its patch entries
//   im2col1d<T>   one thread per cols entry    cols (N, C, K, OL) from x (N, C, L)
//   col2im1d<T>   one thread per dx entry      dx (N, C, L)
//
// Launch geometry: 1-d grid-stride loops over the output entries, any block size, no
// shared memory.  col2im gathers (each input pixel sums the patch entries it appears in,
// in the reference's (p, q) order) instead of scattering, so it needs no atomics and is
// deterministic.  Zero padding: patch entries outside the input are 0 (im2col) and are
// dropped (col2im).
#include "common.cuh"

// --8<-- [start:im2col]
// cols[n, c, p, q, i, j] = x_pad[n, c, i sh + p, j sw + q]
//                        = x[n, c, i sh + p - ph, j sw + q - pw] inside the input, else 0
template <typename T>
__global__ void im2col2d(const T* __restrict__ x, T* __restrict__ cols, long long total,
                         long long h, long long w, long long kh, long long kw, long long sh,
                         long long sw, long long ph, long long pw, long long oh,
                         long long ow) {
    for (long long k = grid_start(); k < total; k += grid_stride()) {
        long long j = k % ow, i = (k / ow) % oh, q = (k / (ow * oh)) % kw;
        long long p = (k / (ow * oh * kw)) % kh, nc = k / (ow * oh * kw * kh);
        long long r = i * sh + p - ph, c = j * sw + q - pw;
        cols[k] = (r >= 0 && r < h && c >= 0 && c < w) ? x[(nc * h + r) * w + c] : T(0);
    }
}

// dx[n, c, r, v] = sum over (p, q, i, j) with r = i sh + p - ph, v = j sw + q - pw of
//                  cols[n, c, p, q, i, j]    (the adjoint of im2col2d)
template <typename T>
__global__ void col2im2d(const T* __restrict__ cols, T* __restrict__ dx, long long total,
                         long long h, long long w, long long kh, long long kw, long long sh,
                         long long sw, long long ph, long long pw, long long oh,
                         long long ow) {
    for (long long k = grid_start(); k < total; k += grid_stride()) {
        long long v = k % w, r = (k / w) % h, nc = k / (w * h);
        const T* cnc = cols + nc * kh * kw * oh * ow;
        T acc = T(0);
        for (long long p = 0; p < kh; ++p) {
            long long ip = r + ph - p;                 // = i sh for the window row i
            if (ip < 0 || ip % sh != 0 || ip / sh >= oh) continue;
            for (long long q = 0; q < kw; ++q) {
                long long jq = v + pw - q;             // = j sw
                if (jq < 0 || jq % sw != 0 || jq / sw >= ow) continue;
                acc += cnc[((p * kw + q) * oh + ip / sh) * ow + jq / sw];
            }
        }
        dx[k] = acc;
    }
}
// --8<-- [end:im2col]

// cols[n, c, p, i] = x[n, c, i s + p - pad] inside the input, else 0
template <typename T>
__global__ void im2col1d(const T* __restrict__ x, T* __restrict__ cols, long long total,
                         long long l, long long kl, long long s, long long pad, long long ol) {
    for (long long k = grid_start(); k < total; k += grid_stride()) {
        long long i = k % ol, p = (k / ol) % kl, nc = k / (ol * kl);
        long long r = i * s + p - pad;
        cols[k] = (r >= 0 && r < l) ? x[nc * l + r] : T(0);
    }
}

// dx[n, c, r] = sum over (p, i) with r = i s + p - pad of cols[n, c, p, i]
template <typename T>
__global__ void col2im1d(const T* __restrict__ cols, T* __restrict__ dx, long long total,
                         long long l, long long kl, long long s, long long pad, long long ol) {
    for (long long k = grid_start(); k < total; k += grid_stride()) {
        long long r = k % l, nc = k / l;
        const T* cnc = cols + nc * kl * ol;
        T acc = T(0);
        for (long long p = 0; p < kl; ++p) {
            long long ip = r + pad - p;                // = i s
            if (ip < 0 || ip % s != 0 || ip / s >= ol) continue;
            acc += cnc[p * ol + ip / s];
        }
        dx[k] = acc;
    }
}

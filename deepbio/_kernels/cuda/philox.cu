// Philox4x32-10 (twin of reference.philox_uniform and reference.philox4x32_10).
//
// Kernels (T = float, double):
//   philox_uniform<T>(out, n, seed, stream, offset)   n uniforms on [0, 1)
//   philox_blocks(counter, out, blocks, k0, k1)        the raw block function (tests)
//
// Launch geometry: 1-d grid, any block size; one thread per 128-bit block in a
// grid-stride loop over the ceil(n / 4) (float32) or ceil(n / 2) (float64) blocks; a block
// writes its 4 (2) consecutive outputs.  No shared memory.  The device functions live in
// philox.cuh, so fused kernels can draw their uniforms in place with the same rule.
#include "common.cuh"
#include "philox.cuh"

// --8<-- [start:philox_uniform]
// Element 4 j + w (float32) is u(X[w]) of block j; element 2 j + w (float64) is
// u(X[2w], X[2w + 1]).  X = philox4x32_10((lo(offset + j), hi(offset + j), lo(stream),
// hi(stream)), (lo(seed), hi(seed))).
template <typename T>
__global__ void philox_uniform(T* __restrict__ out, long long n, unsigned long long seed,
                               unsigned long long stream, unsigned long long offset) {
    constexpr int per = sizeof(T) == 4 ? 4 : 2;        // uniforms per block
    long long blocks = (n + per - 1) / per;
    for (long long j = grid_start(); j < blocks; j += grid_stride()) {
        unsigned int x[4];
        philox_block(x, (unsigned long long)j, seed, stream, offset);
        for (int w = 0; w < per; ++w) {
            long long i = per * j + w;
            if (i >= n) break;
            if constexpr (per == 4)
                out[i] = philox_u01(x[w], T(0));
            else
                out[i] = philox_u01(x[2 * w], x[2 * w + 1], T(0));
        }
    }
}
// --8<-- [end:philox_uniform]

// out[b] = philox4x32_10(counter[b], (k0, k1)) for b < blocks; counter, out uint32 (blocks, 4)
__global__ void philox_blocks(const unsigned int* __restrict__ counter,
                              unsigned int* __restrict__ out, long long blocks,
                              unsigned int k0, unsigned int k1) {
    for (long long b = grid_start(); b < blocks; b += grid_stride()) {
        unsigned int x[4] = {counter[4 * b], counter[4 * b + 1], counter[4 * b + 2],
                             counter[4 * b + 3]};
        philox4x32_10(x, k0, k1);
        for (int w = 0; w < 4; ++w) out[4 * b + w] = x[w];
    }
}

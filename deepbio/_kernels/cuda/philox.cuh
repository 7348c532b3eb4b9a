// Philox4x32-10 as device functions, for philox.cu and for any fused kernel that draws
// its own uniforms (Salmon, Moraes, Dror & Shaw 2011; Random123).  Twin of
// reference.philox4x32_10 / reference.philox_uniform; the keying rule is written there.
#pragma once

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

// --8<-- [start:philox_block]
// Ten rounds on the counter c[0..3] in place, key (k0, k1):
//   (hi0, lo0) = mulhilo32(M0, c0),  (hi1, lo1) = mulhilo32(M1, c2)
//   c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0);   k += (W0, W1) between rounds.
__device__ __forceinline__ void philox4x32_10(unsigned int* c, unsigned int k0,
                                              unsigned int k1) {
    for (int r = 0; r < 10; ++r) {
        if (r > 0) {
            k0 += PHILOX_W0;                           // mod 2^32
            k1 += PHILOX_W1;
        }
        unsigned int hi0 = __umulhi(PHILOX_M0, c[0]), lo0 = PHILOX_M0 * c[0];
        unsigned int hi1 = __umulhi(PHILOX_M1, c[2]), lo1 = PHILOX_M1 * c[2];
        unsigned int c1 = c[1], c3 = c[3];
        c[0] = hi1 ^ c1 ^ k0;
        c[1] = lo1;
        c[2] = hi0 ^ c3 ^ k1;
        c[3] = lo0;
    }
}

// Block j of a draw keyed by (seed, stream, offset): counter
// (lo32(offset + j), hi32(offset + j), lo32(stream), hi32(stream)), key (lo32(seed), hi32(seed)).
__device__ __forceinline__ void philox_block(unsigned int* x, unsigned long long j,
                                             unsigned long long seed,
                                             unsigned long long stream,
                                             unsigned long long offset) {
    unsigned long long ctr = offset + j;               // mod 2^64
    x[0] = (unsigned int)ctr;
    x[1] = (unsigned int)(ctr >> 32);
    x[2] = (unsigned int)stream;
    x[3] = (unsigned int)(stream >> 32);
    philox4x32_10(x, (unsigned int)seed, (unsigned int)(seed >> 32));
}
// --8<-- [end:philox_block]

// --8<-- [start:philox_u01]
// float32 uniform from one word: u = (x >> 8) 2^-24 (exact)
__device__ __forceinline__ float philox_u01(unsigned int x, float) {
    return (float)(x >> 8) * 5.9604644775390625e-08f;
}

// float64 uniform from two words: u = ((a >> 5) 2^26 + (b >> 6)) 2^-53 (exact)
__device__ __forceinline__ double philox_u01(unsigned int a, unsigned int b, double) {
    return ((double)(a >> 5) * 67108864.0 + (double)(b >> 6)) * 1.1102230246251565e-16;
}
// --8<-- [end:philox_u01]

// Recurrent family: the element-wise work of one Elman or LSTM time step, forward and
// backward, one kernel each (twins of reference.elman_step_forward / _backward and
// lstm_step_forward / _backward).  The CuPy face does the products with cuBLAS: x Wx for
// all time steps at once before the recurrence, h_{t-1} Wh inside it, and after the
// backward recurrence dx = dZ Wx^T, dWx = X^T dZ, dWh = H_prev^T dZ over all T N rows.
//
// Kernels (T = float, double), one thread per (n, j < H) in a 1-d grid-stride loop:
//   elman_cell<T>        h = f(xw + hwh + b), f = tanh or relu
//   elman_cell_grad<T>   dz = (dh + dh_next) f'(z), from h
//   lstm_cell<T>         gates [i, f, g, o], c, h from the pre-activations xw + hwh + b
//   lstm_cell_grad<T>    dz (N, 4H) and dc_prev from dh (+ dh_next), dc, c_prev, c, gates
//
// Launch geometry: any block size, no shared memory.  The optional inputs dh_next and
// dc may be NULL, meaning zero: the last step of the backward recurrence has neither.
#include "common.cuh"

// h[n, j] = f(xw[n, j] + hwh[n, j] + b[j]),  xw = x Wx, hwh = h_prev Wh  (N, H)
template <typename T>
__global__ void elman_cell(const T* __restrict__ xw, const T* __restrict__ hwh,
                           const T* __restrict__ b, T* __restrict__ h, long long total,
                           long long hsz, int act) {
    for (long long k = grid_start(); k < total; k += grid_stride()) {
        h[k] = activate(act, xw[k] + hwh[k] + b[k % hsz]);
    }
}

// dz = dh_tot f'(z) with dh_tot = dh + dh_next (dh_next may be NULL) and f' from h:
// tanh 1 - h^2, relu 1[h > 0]
template <typename T>
__global__ void elman_cell_grad(const T* __restrict__ dh, const T* __restrict__ dh_next,
                                const T* __restrict__ h, T* __restrict__ dz,
                                long long total, int act) {
    for (long long k = grid_start(); k < total; k += grid_stride())
        dz[k] = activate_backward(act, h[k], dh_next ? dh[k] + dh_next[k] : dh[k]);
}

// Row n, unit j < H, z = xw + hwh + b (N, 4H), gate blocks [i | f | g | o]:
//   i = sigm(z_i), f = sigm(z_f), g = tanh(z_g), o = sigm(z_o)
//   c = f c_prev + i g,  h = o tanh(c);  gates = [i, f, g, o]
template <typename T>
__global__ void lstm_cell(const T* __restrict__ xw, const T* __restrict__ hwh,
                          const T* __restrict__ b, const T* __restrict__ c_prev,
                          T* __restrict__ h, T* __restrict__ c, T* __restrict__ gates,
                          long long total, long long hsz) {
    for (long long k = grid_start(); k < total; k += grid_stride()) {
        long long n = k / hsz, j = k % hsz;
        long long row = n * 4 * hsz;
        T z[4];
        for (int q = 0; q < 4; ++q) {
            long long at = row + q * hsz + j;
            z[q] = xw[at] + hwh[at] + b[q * hsz + j];
        }
        T gi = sigmoid(z[0]), gf = sigmoid(z[1]), gg = d_tanh(z[2]), go = sigmoid(z[3]);
        gates[row + j] = gi;
        gates[row + hsz + j] = gf;
        gates[row + 2 * hsz + j] = gg;
        gates[row + 3 * hsz + j] = go;
        T ck = gf * c_prev[k] + gi * gg;
        c[k] = ck;
        h[k] = go * d_tanh(ck);
    }
}

// Row n, unit j, with dh_tot = dh + dh_next (dh_next may be NULL), dc (may be NULL: 0),
// tc = tanh(c):
//   dc_tot = dc + dh_tot o (1 - tc^2);   dc_prev = dc_tot f
//   dz = [dc_tot g i (1 - i), dc_tot c_prev f (1 - f), dc_tot i (1 - g^2), dh_tot tc o (1 - o)]
template <typename T>
__global__ void lstm_cell_grad(const T* __restrict__ dh, const T* __restrict__ dh_next,
                               const T* __restrict__ dc, const T* __restrict__ c_prev,
                               const T* __restrict__ c, const T* __restrict__ gates,
                               T* __restrict__ dz, T* __restrict__ dc_prev, long long total,
                               long long hsz) {
    for (long long k = grid_start(); k < total; k += grid_stride()) {
        long long n = k / hsz, j = k % hsz;
        long long row = n * 4 * hsz;
        T gi = gates[row + j], gf = gates[row + hsz + j];
        T gg = gates[row + 2 * hsz + j], go = gates[row + 3 * hsz + j];
        T d = dh_next ? dh[k] + dh_next[k] : dh[k];
        T tc = d_tanh(c[k]);
        T dct = d * go * (T(1) - tc * tc);
        if (dc) dct = dc[k] + dct;
        dz[row + j] = dct * gg * gi * (T(1) - gi);
        dz[row + hsz + j] = dct * c_prev[k] * gf * (T(1) - gf);
        dz[row + 2 * hsz + j] = dct * gi * (T(1) - gg * gg);
        dz[row + 3 * hsz + j] = d * tc * go * (T(1) - go);
        dc_prev[k] = dct * gf;
    }
}

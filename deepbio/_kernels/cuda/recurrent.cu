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

// --8<-- [start:elman]
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
// --8<-- [end:elman]

// --8<-- [start:lstm]
// Row n, unit j < H, z = xw + hwh + b (N, 4H), gate blocks [i | f | g | o]:
//   i = sigm(z_i), f = sigm(z_f), g = tanh(z_g), o = sigm(z_o)
//   c = f c_prev + i g,  h = o tanh(c);  gates = [i, f, g, o]
// The gate arithmetic of one (row n, unit j) of both LSTM cells below: writes the four
// gates, returns c and sets *h_out = o tanh(c).
template <typename T>
__device__ inline T lstm_gates(const T* __restrict__ xw, const T* __restrict__ hwh,
                               const T* __restrict__ b, T c_prev, T* __restrict__ gates,
                               long long n, long long j, long long hsz, T* h_out) {
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
    T ck = gf * c_prev + gi * gg;
    *h_out = go * d_tanh(ck);
    return ck;
}

template <typename T>
__global__ void lstm_cell(const T* __restrict__ xw, const T* __restrict__ hwh,
                          const T* __restrict__ b, const T* __restrict__ c_prev,
                          T* __restrict__ h, T* __restrict__ c, T* __restrict__ gates,
                          long long total, long long hsz) {
    for (long long k = grid_start(); k < total; k += grid_stride()) {
        T hk;
        c[k] = lstm_gates(xw, hwh, b, c_prev[k], gates, k / hsz, k % hsz, hsz, &hk);
        h[k] = hk;
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
// --8<-- [end:lstm]

// ---------------------------------------------------- masks, truncation and the R-op
//
// Whole-sequence kernels with a mask m (T, N) (1 real step, 0 padding: the state is kept),
// truncated BPTT (keep (T, N): the carry into step t-1 is multiplied by keep[t]) and the
// forward-mode R-op.  The face loops over time; per step one product (cuBLAS) and one of
// these, one thread per (n, j < H).  m_n, keep_n are row factors: index k / hsz.
//
//   elman_cell_masked<T>       hnew = f(xw + hwh + b);  h = m hnew + (1 - m) h_prev
//   lstm_cell_masked<T>        lstm_cell into (hn, cnew, gates); h, c mixed by m
//   elman_cell_grad_masked<T>  carry = first ? 0 : (prod + pass) keep_next;  d = dh + carry;
//                              dz = f'(hnew) (m d);  pass = (1 - m) d      (pass in place)
//   lstm_cell_grad_masked<T>   likewise for h, and for c: cc = first ? 0 : cpass keep_next;
//                              cpass = dc_tot f + (1 - m) cc               (in place)
//   masked_carry<T>            out = (prod + pass) keep (prod, keep may be NULL: 0, 1)
//   elman_rop_step<T>          new = f'(hnew) (a + prod);  r = m new + (1 - m) r_prev
//   lstm_rop_step<T>           one step of reference.lstm_rop; rc carried in place
// NULL m means no mask (m = 1), NULL keep full BPTT (keep = 1), NULL prod a zero product
// (the first step of a recurrence, where the previous state or carry is 0).

template <typename T>
__global__ void elman_cell_masked(const T* __restrict__ xw, const T* __restrict__ hwh,
                                  const T* __restrict__ b, const T* __restrict__ m,
                                  const T* __restrict__ h_prev, T* __restrict__ hnew,
                                  T* __restrict__ h, long long total, long long hsz, int act) {
    for (long long k = grid_start(); k < total; k += grid_stride()) {
        T mn = m[k / hsz];
        T hn = activate(act, xw[k] + hwh[k] + b[k % hsz]);
        hnew[k] = hn;
        h[k] = mn * hn + (T(1) - mn) * h_prev[k];
    }
}

template <typename T>
__global__ void lstm_cell_masked(const T* __restrict__ xw, const T* __restrict__ hwh,
                                 const T* __restrict__ b, const T* __restrict__ m,
                                 const T* __restrict__ h_prev, const T* __restrict__ c_prev,
                                 T* __restrict__ h, T* __restrict__ c, T* __restrict__ cnew,
                                 T* __restrict__ gates, long long total, long long hsz) {
    for (long long k = grid_start(); k < total; k += grid_stride()) {
        long long n = k / hsz;
        T hn;
        T cn = lstm_gates(xw, hwh, b, c_prev[k], gates, n, k % hsz, hsz, &hn);
        T mn = m[n];
        cnew[k] = cn;
        h[k] = mn * hn + (T(1) - mn) * h_prev[k];
        c[k] = mn * cn + (T(1) - mn) * c_prev[k];
    }
}

template <typename T>
__global__ void elman_cell_grad_masked(const T* __restrict__ dh, const T* __restrict__ prod,
                                       T* pass, const T* __restrict__ keep_next,
                                       const T* __restrict__ hnew, const T* __restrict__ m,
                                       T* __restrict__ dz, long long total, long long hsz,
                                       int first, int act) {
    for (long long k = grid_start(); k < total; k += grid_stride()) {
        long long n = k / hsz;
        T carry = T(0);
        if (!first) {
            carry = prod[k] + pass[k];
            if (keep_next) carry = carry * keep_next[n];
        }
        T d = dh[k] + carry, mn = m[n];
        dz[k] = activate_backward(act, hnew[k], mn * d);
        pass[k] = (T(1) - mn) * d;
    }
}

template <typename T>
__global__ void lstm_cell_grad_masked(const T* __restrict__ dh, const T* __restrict__ prod,
                                      T* hpass, T* cpass, const T* __restrict__ keep_next,
                                      const T* __restrict__ c_prev, const T* __restrict__ cnew,
                                      const T* __restrict__ gates, const T* __restrict__ m,
                                      T* __restrict__ dz, long long total, long long hsz,
                                      int first) {
    for (long long k = grid_start(); k < total; k += grid_stride()) {
        long long n = k / hsz, j = k % hsz;
        long long row = n * 4 * hsz;
        T hc = T(0), cc = T(0);
        if (!first) {
            hc = prod[k] + hpass[k];
            cc = cpass[k];
            if (keep_next) {
                hc = hc * keep_next[n];
                cc = cc * keep_next[n];
            }
        }
        T gi = gates[row + j], gf = gates[row + hsz + j];
        T gg = gates[row + 2 * hsz + j], go = gates[row + 3 * hsz + j];
        T d = dh[k] + hc, mn = m[n];
        T mdh = mn * d, mdc = mn * cc;
        T tc = d_tanh(cnew[k]);
        T dct = mdc + mdh * go * (T(1) - tc * tc);
        dz[row + j] = dct * gg * gi * (T(1) - gi);
        dz[row + hsz + j] = dct * c_prev[k] * gf * (T(1) - gf);
        dz[row + 2 * hsz + j] = dct * gi * (T(1) - gg * gg);
        dz[row + 3 * hsz + j] = mdh * tc * go * (T(1) - go);
        hpass[k] = (T(1) - mn) * d;
        cpass[k] = dct * gf + (T(1) - mn) * cc;
    }
}

template <typename T>
__global__ void masked_carry(const T* __restrict__ prod, const T* __restrict__ pass,
                             const T* __restrict__ keep, T* __restrict__ out,
                             long long total, long long hsz) {
    for (long long k = grid_start(); k < total; k += grid_stride()) {
        T v = prod ? prod[k] + pass[k] : pass[k];
        out[k] = keep ? v * keep[k / hsz] : v;
    }
}

// --8<-- [start:elman_rop]
template <typename T>
__global__ void elman_rop_step(const T* __restrict__ a, const T* __restrict__ prod,
                               const T* __restrict__ hnew, const T* __restrict__ m,
                               const T* __restrict__ r_prev, T* __restrict__ r,
                               long long total, long long hsz, int act) {
    for (long long k = grid_start(); k < total; k += grid_stride()) {
        T rz = prod ? a[k] + prod[k] : a[k];
        T nw = activate_backward(act, hnew[k], rz);
        if (m) {
            T mn = m[k / hsz];
            T old = r_prev ? r_prev[k] : T(0);
            nw = mn * nw + (T(1) - mn) * old;
        }
        r[k] = nw;
    }
}
// --8<-- [end:elman_rop]

// rz = a + prod (N, 4H);  R{i} = i(1-i) rz_i, ...;  rc~ = R{f} c_prev + f rc + R{i} g + i R{g};
// rh~ = R{o} tanh(c~) + o (1 - tanh^2 c~) rc~;  rh = m rh~ + (1 - m) rh_prev, rc likewise.
// rc holds R{c_{t-1}} on entry (ignored, as 0, when first) and R{c_t} on exit.
template <typename T>
__global__ void lstm_rop_step(const T* __restrict__ a, const T* __restrict__ prod,
                              const T* __restrict__ gates, const T* __restrict__ c_prev,
                              const T* __restrict__ cnew, const T* __restrict__ m,
                              const T* __restrict__ rh_prev, T* rc, T* __restrict__ rh,
                              long long total, long long hsz, int first) {
    for (long long k = grid_start(); k < total; k += grid_stride()) {
        long long n = k / hsz, j = k % hsz;
        long long row = n * 4 * hsz;
        T rz[4];
        for (int q = 0; q < 4; ++q) {
            long long at = row + q * hsz + j;
            rz[q] = prod ? a[at] + prod[at] : a[at];
        }
        T gi = gates[row + j], gf = gates[row + hsz + j];
        T gg = gates[row + 2 * hsz + j], go = gates[row + 3 * hsz + j];
        T ri = gi * (T(1) - gi) * rz[0];
        T rf = gf * (T(1) - gf) * rz[1];
        T rg = (T(1) - gg * gg) * rz[2];
        T ro = go * (T(1) - go) * rz[3];
        T rc_old = first ? T(0) : rc[k];
        T rcn = rf * c_prev[k] + gf * rc_old + ri * gg + gi * rg;
        T tc = d_tanh(cnew[k]);
        T rhn = ro * tc + go * (T(1) - tc * tc) * rcn;
        if (m) {
            T mn = m[n];
            T rh_old = first ? T(0) : rh_prev[k];
            rhn = mn * rhn + (T(1) - mn) * rh_old;
            rcn = mn * rcn + (T(1) - mn) * rc_old;
        }
        rh[k] = rhn;
        rc[k] = rcn;
    }
}

// ------------------------------------------------------------------------------- GRU
//
// Gate order r, z, n and PyTorch's reset-gate placement (reference.gru_forward_masked):
//   r = sigm(xw_r + b_r + hwh_r + bh_r),  z = sigm(xw_z + b_z + hwh_z + bh_z),
//   hn = hwh_n + bh_n,  n = tanh(xw_n + b_n + r hn),  h~ = (1 - z) n + z h_prev
// with xw = x Wx, hwh = h_prev Wh (N, 3H) from cuBLAS.  One thread per (n, j < H):
//   gru_cell<T>        gates, hn, hnew = h~;  h = m h~ + (1 - m) h_prev (m NULL: h is not
//                      written: the face passes hnew = h)
//   gru_cell_grad<T>   carry = first ? 0 : (prod + pass) keep_next;  d = dh + carry;
//                      with mdh = m d: dzx = [da_r, da_z, da_n], dzh = [da_r, da_z, r da_n];
//                      pass = mdh z + (1 - m) d                         (pass in place)
//   gru_rop_step<T>    one step of reference.gru_rop (rg = ah + prod)
// NULL m means no mask, NULL keep_next full BPTT, NULL prod a zero product; masked_carry
// forms the last carry dh0 from the last prod and pass.

// The gate arithmetic of one (row n, unit j) of a GRU step: writes [r, z, n] and hn,
// returns h~ = (1 - z) n + z h_prev.
// --8<-- [start:gru]
template <typename T>
__device__ inline T gru_gates(const T* __restrict__ xw, const T* __restrict__ hwh,
                              const T* __restrict__ b, const T* __restrict__ bh, T h_prev,
                              T* __restrict__ gates, T* __restrict__ hn, long long n,
                              long long j, long long hsz) {
    long long row = n * 3 * hsz;
    T r = sigmoid((xw[row + j] + b[j]) + (hwh[row + j] + bh[j]));
    T z = sigmoid((xw[row + hsz + j] + b[hsz + j]) + (hwh[row + hsz + j] + bh[hsz + j]));
    T hh = hwh[row + 2 * hsz + j] + bh[2 * hsz + j];
    T nn = d_tanh((xw[row + 2 * hsz + j] + b[2 * hsz + j]) + r * hh);
    gates[row + j] = r;
    gates[row + hsz + j] = z;
    gates[row + 2 * hsz + j] = nn;
    hn[n * hsz + j] = hh;
    return (T(1) - z) * nn + z * h_prev;
}

template <typename T>
__global__ void gru_cell(const T* __restrict__ xw, const T* __restrict__ hwh,
                         const T* __restrict__ b, const T* __restrict__ bh,
                         const T* __restrict__ m, const T* h_prev, T* hnew, T* h,
                         T* __restrict__ gates, T* __restrict__ hn, long long total,
                         long long hsz) {
    for (long long k = grid_start(); k < total; k += grid_stride()) {
        long long n = k / hsz;
        T hp = h_prev[k];
        T nw = gru_gates(xw, hwh, b, bh, hp, gates, hn, n, k % hsz, hsz);
        hnew[k] = nw;
        if (m) h[k] = m[n] * nw + (T(1) - m[n]) * hp;
    }
}

template <typename T>
__global__ void gru_cell_grad(const T* __restrict__ dh, const T* __restrict__ prod, T* pass,
                              const T* __restrict__ keep_next, const T* __restrict__ h_prev,
                              const T* __restrict__ gates, const T* __restrict__ hn,
                              const T* __restrict__ m, T* __restrict__ dzx,
                              T* __restrict__ dzh, long long total, long long hsz,
                              int first) {
    for (long long k = grid_start(); k < total; k += grid_stride()) {
        long long n = k / hsz, j = k % hsz;
        long long row = n * 3 * hsz;
        T carry = T(0);
        if (!first) {
            carry = prod[k] + pass[k];
            if (keep_next) carry = carry * keep_next[n];
        }
        T d = dh[k] + carry;
        T mn = m ? m[n] : T(1);
        T mdh = m ? mn * d : d;
        T r = gates[row + j], z = gates[row + hsz + j], nn = gates[row + 2 * hsz + j];
        T dan = mdh * (T(1) - z) * (T(1) - nn * nn);
        T daz = mdh * (h_prev[k] - nn) * z * (T(1) - z);
        T dar = dan * hn[k] * r * (T(1) - r);
        dzx[row + j] = dar;
        dzx[row + hsz + j] = daz;
        dzx[row + 2 * hsz + j] = dan;
        dzh[row + j] = dar;
        dzh[row + hsz + j] = daz;
        dzh[row + 2 * hsz + j] = dan * r;
        T p = mdh * z;
        if (m) p = p + (T(1) - mn) * d;
        pass[k] = p;
    }
}
// --8<-- [end:gru]

// rg = ah + prod (N, 3H);  R{r} = r(1-r)(ax_r + rg_r), R{z} = z(1-z)(ax_z + rg_z),
// R{n} = (1-n^2)(ax_n + R{r} hn + r rg_n);  R{h~} = (1-z) R{n} + R{z}(h_prev - n) + z rh_prev;
// rh = m R{h~} + (1 - m) rh_prev.  rh_prev is ignored (as 0) when first.
template <typename T>
__global__ void gru_rop_step(const T* __restrict__ ax, const T* __restrict__ ah,
                             const T* __restrict__ prod, const T* __restrict__ gates,
                             const T* __restrict__ hn, const T* __restrict__ h_prev,
                             const T* __restrict__ m, const T* __restrict__ rh_prev,
                             T* __restrict__ rh, long long total, long long hsz, int first) {
    for (long long k = grid_start(); k < total; k += grid_stride()) {
        long long n = k / hsz, j = k % hsz;
        long long row = n * 3 * hsz;
        T rg[3];
        for (int q = 0; q < 3; ++q) {
            long long at = row + q * hsz + j;
            rg[q] = prod ? ah[at] + prod[at] : ah[at];
        }
        T r = gates[row + j], z = gates[row + hsz + j], nn = gates[row + 2 * hsz + j];
        T rr = r * (T(1) - r) * (ax[row + j] + rg[0]);
        T rz = z * (T(1) - z) * (ax[row + hsz + j] + rg[1]);
        T rn = (T(1) - nn * nn) * (ax[row + 2 * hsz + j] + rr * hn[k] + r * rg[2]);
        T old = first ? T(0) : rh_prev[k];
        T nw = (T(1) - z) * rn + rz * (h_prev[k] - nn) + z * old;
        if (m) nw = m[n] * nw + (T(1) - m[n]) * old;
        rh[k] = nw;
    }
}

// cuda_host.h: compile deepbio's .cu sources for the host, so that every CUDA C line is
// run (and compared with the NumPy reference) on a machine without a GPU.
//
// Include this, then a .cu file, in a C++20 translation unit (g++ -std=c++20 -pthread).
// It maps the CUDA built-ins the kernels use onto plain C++:
//
//   __global__, __device__, __host__, __forceinline__   -> nothing / inline
//   __shared__                 -> static: one array per kernel instantiation, shared by
//                                 the threads of a block; blocks run one after another,
//                                 so one array serves every block in turn
//   threadIdx, blockIdx        -> thread_local, set by the launcher for each thread
//   blockDim, gridDim          -> globals, set by the launcher for each launch
//   __syncthreads()            -> std::barrier of the block's threads
//   atomicAdd(p, v)            -> std::atomic_ref<T>(*p).fetch_add(v)
//   __umulhi(a, b)             -> high 32 bits of the 64-bit product
//   expf, logf, log1pf, tanhf, cosf, sqrtf, fabsf (and double versions) -> <math.h>
//
// deepbio_host::launch(grid, block, body) runs a grid like the hardware would allow:
// the blocks one after another, the threads of a block as std::threads running
// concurrently (so __syncthreads really synchronises, and a missing one shows as a wrong
// result or a data race).  A thread that returns drops out of the block's barrier, as an
// exited CUDA thread no longer takes part in __syncthreads.  Only the x dimension is used.
//
// deepbio_host::launch_packed(kernel, grid, block, args, sizes, nargs) is the launch
// with arguments as cudaLaunchKernel takes them: args[i] points at the i-th argument's
// value and sizes[i] is its size in bytes, checked against the kernel's parameter types
// (so a caller passing an int64 where the kernel takes an int is caught), and
// deepbio_host::signature(kernel) spells the parameter types, so that a caller can check
// dtypes too (a float64 array passed where the kernel reads float).
#pragma once

#include <atomic>
#include <barrier>
#include <math.h>      // expf, exp, log1pf, ... in the global namespace, as in CUDA
#include <cstddef>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static

struct dim3 {
    unsigned int x = 1, y = 1, z = 1;
};

inline thread_local dim3 threadIdx;
inline thread_local dim3 blockIdx;
inline dim3 blockDim;
inline dim3 gridDim;

namespace deepbio_host {
inline thread_local std::barrier<>* block_barrier = nullptr;
}

inline void __syncthreads() { deepbio_host::block_barrier->arrive_and_wait(); }

template <typename T>
inline T atomicAdd(T* address, T value) {
    return std::atomic_ref<T>(*address).fetch_add(value);
}

inline unsigned int __umulhi(unsigned int a, unsigned int b) {
    return (unsigned int)(((unsigned long long)a * b) >> 32);
}


namespace deepbio_host {

template <typename Body>
void launch(unsigned int grid, unsigned int block, Body body) {
    gridDim = dim3{grid, 1, 1};
    blockDim = dim3{block, 1, 1};
    for (unsigned int b = 0; b < grid; ++b) {
        std::barrier<> sync((std::ptrdiff_t)block);
        std::vector<std::thread> threads;
        threads.reserve(block);
        for (unsigned int t = 0; t < block; ++t)
            threads.emplace_back([&sync, &body, b, t] {
                blockIdx = dim3{b, 0, 0};
                threadIdx = dim3{t, 0, 0};
                block_barrier = &sync;
                body();
                sync.arrive_and_drop();
            });
        for (auto& th : threads) th.join();
    }
}

// One letter per parameter type, for the caller to check its arguments against:
// f float, d double, i int, I unsigned int, q long long, Q unsigned long long; a pointer
// is P followed by its pointee's letter.  Space separated.
template <typename T>
constexpr char type_code() {
    if constexpr (std::is_same_v<T, float>) return 'f';
    else if constexpr (std::is_same_v<T, double>) return 'd';
    else if constexpr (std::is_same_v<T, int>) return 'i';
    else if constexpr (std::is_same_v<T, unsigned int>) return 'I';
    else if constexpr (std::is_same_v<T, long long>) return 'q';
    else if constexpr (std::is_same_v<T, unsigned long long>) return 'Q';
    else return '?';
}

template <typename T>
void append_code(std::string& s) {
    using U = std::remove_cv_t<T>;
    if constexpr (std::is_pointer_v<U>) {
        s += 'P';
        s += type_code<std::remove_cv_t<std::remove_pointer_t<U>>>();
    } else {
        s += type_code<U>();
    }
    s += ' ';
}

template <typename... A>
std::string signature(void (*)(A...)) {
    std::string s;
    (append_code<A>(s), ...);
    return s;
}

template <typename... A, std::size_t... I>
void call_unpacked(void (*kernel)(A...), void** args, std::index_sequence<I...>) {
    kernel(*static_cast<std::remove_cv_t<std::remove_reference_t<A>>*>(args[I])...);
}

// 0 on success; -1: wrong argument count; -(2 + i): argument i has the wrong size.
template <typename... A>
int launch_packed(void (*kernel)(A...), unsigned int grid, unsigned int block, void** args,
                  const long long* sizes, int nargs) {
    if (nargs != (int)sizeof...(A)) return -1;
    const long long want[] = {(long long)sizeof(A)...};
    for (int i = 0; i < nargs; ++i)
        if (sizes[i] != want[i]) return -(2 + i);
    launch(grid, block, [&] { call_unpacked(kernel, args, std::index_sequence_for<A...>{}); });
    return 0;
}

}  // namespace deepbio_host

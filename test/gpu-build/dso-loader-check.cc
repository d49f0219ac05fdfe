// Calls TensorFlow's own CUDA library loader, tsl::internal::DsoLoader::TryDlopenCUDALibraries
// (what TensorFlow runs when it sets up a GPU: cudart, cuBLAS, cuBLASLt, cuFFT, cuSOLVER,
// cuSPARSE, cuDNN), then prints the file each soname resolved to. The dlopen calls happen
// inside libtensorflow_framework.so.2, so the loader searches that library's RUNPATH, as it
// does in Node; linked like the addon (rpath to deps/lib). Run with LD_DEBUG=libs to see
// every path the loader tries. Without a GPU this loads the libraries but uses none of them.
#include <dlfcn.h>
#include <link.h>
#include <cstdint>
#include <cstdio>

// absl::Status is one word with a non-trivial destructor, so it is returned through a
// hidden pointer; a struct of the same shape receives it. Its value is not read: the
// libraries' presence in the process is what counts.
struct StatusWord {
  uintptr_t rep;
  ~StatusWord() {}
};
namespace tsl { namespace internal { namespace DsoLoader {
StatusWord TryDlopenCUDALibraries();
}}}

int main() {
  tsl::internal::DsoLoader::TryDlopenCUDALibraries();
  const char* sonames[] = {"libcudart.so.12", "libcublas.so.12", "libcublasLt.so.12", "libcufft.so.11",
                           "libcusolver.so.11", "libcusparse.so.12", "libcudnn.so.8", "libnvJitLink.so.12"};
  int missing = 0;
  for (const char* soname : sonames) {
    void* handle = dlopen(soname, RTLD_NOW | RTLD_NOLOAD);
    struct link_map* map = nullptr;
    if (handle != nullptr && dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0) {
      std::printf("PXL_LOADED %s %s\n", soname, map->l_name);
    } else {
      std::printf("PXL_MISSING %s\n", soname);
      missing++;
    }
  }
  return missing == 0 ? 0 : 1;
}

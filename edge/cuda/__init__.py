"""CUDA kernels of the GPU runtime (CUDA C in ``kernels.cu``) and their launchers; every
kernel has a NumPy reference elsewhere in the package, named in the source."""

import Kernels
for id in Registry.all { print(id) }

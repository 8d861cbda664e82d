import Kernels
import Foundation
var worst = 0.0, at: Float = 0
var x: Float = -87.3
while x < 88 {
  let e = VectorMath.exp(x)
  let r = Foundation.exp(Double(x))
  let err = abs(Double(e) - r) / r
  if err > worst { worst = err; at = x }
  x += 0.00137
}
print(worst, at)
for t: Float in [-87.3, -87, -80, -10, -1, -0.3, 0, 0.3, 1, 10, 80, 87.9] { print(t, VectorMath.exp(t), Foundation.exp(Double(t)), (Double(VectorMath.exp(t)) - Foundation.exp(Double(t)))/Foundation.exp(Double(t))) }

import Kernels

/// The named case lists of `opbench bench --suite`.
public enum Suites {
    public static let names = ["quick", "full"]

    /// Shapes per operator. quick: small enough that every variant, naive included, runs in
    /// well under 2 minutes in all; full: the sizes of issue-level claims and of real models.
    public static func shapes(_ suite: String, op: Op) -> [String] {
        switch (suite, op) {
        case ("quick", .matmul): return ["1x4096x4096", "64x64x64", "256x256x256"]
        case ("quick", .softmax): return ["1024x1024"]
        case ("quick", .layernorm): return ["1024x1024"]
        case ("quick", .attention): return ["T=512,H=4,D=64,causal", "T=1024,H=4,D=64,causal,window=128,global=4"]
        case ("quick", .int4): return ["1x4096x4096", "64x1024x1024"]
        case (_, .matmul): return ["64x64x64", "128x128x128", "256x256x256", "512x512x512", "1024x1024x1024", "2048x2048x2048",
                                   "4096x4096x4096", "1x768x3072", "1x3072x768", "512x768x768", "512x768x3072", "512x3072x768"]
        case (_, .softmax): return ["4096x4096", "512x512", "12288x1024"]
        case (_, .layernorm): return ["4096x4096", "512x768", "4096x384"]
        case (_, .attention): return ["T=1024,H=12,D=64,causal", "T=4096,H=12,D=64,causal", "T=4096,H=12,D=64,causal,window=256,global=4",
                                      "T=4096,H=12,D=64,block=64,density=0.125"]
        case (_, .int4): return ["1x4096x14336", "1x768x3072", "512x4096x4096", "512x768x3072"]
        }
    }

    /// Largest FLOP count at which a naive variant is still run in the full suite (larger
    /// shapes would take minutes per sample and say nothing new).
    public static let naiveFlopLimit = 2e10
}

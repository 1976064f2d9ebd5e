"""PyTorch peer for bench_cuda on a GPU machine (needs torch with CUDA).

Same shapes as bench_cuda: GEMM TFLOP/s (x[M,K] @ w[N,K]^T) in f32, tf32 and f16,
and a BERT-base encoder stack (12 x 768, 12 heads, FFN 3072, random weights,
post-LN, erf GELU) at batch 1/8/32 x 128, eager mode with
F.scaled_dot_product_attention. Prints "RESULT torch_<key> <value>" lines.
Run: python3 engine/cuda/bench/bench_torch.py [--quick]
"""
import sys
import time

import torch
import torch.nn.functional as F

QUICK = "--quick" in sys.argv
H, NH, FF, L, SEQ = 768, 12, 3072, 12, 128


def timeit(fn, budget):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    one = max(time.perf_counter() - t0, 1e-6)
    iters = max(5, min(2000, int(budget / one)))
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / iters


def layer(x, w, mask_add):
    b, s, _ = x.shape
    qkv = F.linear(x, w["qkv_w"], w["qkv_b"]).view(b, s, 3, NH, H // NH).permute(2, 0, 3, 1, 4)
    ctx = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=mask_add)
    ctx = ctx.transpose(1, 2).reshape(b, s, H)
    a = F.layer_norm(F.linear(ctx, w["o_w"], w["o_b"]) + x, (H,), w["ln1_g"], w["ln1_b"], 1e-12)
    f = F.gelu(F.linear(a, w["ff1_w"], w["ff1_b"]))
    return F.layer_norm(F.linear(f, w["ff2_w"], w["ff2_b"]) + a, (H,), w["ln2_g"], w["ln2_b"], 1e-12)


def main():
    if not torch.cuda.is_available():
        print("skipped: torch has no CUDA device")
        return 77
    dev = torch.device("cuda")
    print("torch", torch.__version__, "on", torch.cuda.get_device_name(0))
    modes = [("f32", torch.float32, False), ("tf32", torch.float32, True), ("f16", torch.float16, False)]
    shapes = [(128, 2304, 768), (128, 768, 768), (128, 3072, 768), (128, 768, 3072),
              (4096, 2304, 768), (4096, 768, 768), (4096, 3072, 768), (4096, 768, 3072),
              (4096, 4096, 4096)]
    for name, dt, tf32 in modes:
        torch.backends.cuda.matmul.allow_tf32 = tf32
        for m, n, k in shapes:
            a = torch.randn(m, k, device=dev, dtype=dt)
            w = torch.randn(n, k, device=dev, dtype=dt)
            t = timeit(lambda: F.linear(a, w), 0.05 if QUICK else 0.2)
            tf = 2 * m * n * k / t / 1e12
            print(f"  torch gemm {name:5s} {m:5d} x {n:5d} x {k:5d}  {t*1e6:9.1f} us  {tf:7.1f} TFLOP/s")
            print(f"RESULT torch_gemm_{name}_{m}x{n}x{k}_tflops {tf:.2f}")
    for name, dt, tf32 in modes:
        torch.backends.cuda.matmul.allow_tf32 = tf32
        g = torch.Generator(device=dev).manual_seed(0)

        def rnd(*shape, r=1.0, one=False):
            v = (torch.rand(*shape, device=dev, generator=g) * 2 - 1) * r
            return (v + 1 if one else v).to(dt)

        ws = []
        for _ in range(L):
            ws.append({"qkv_w": rnd(3 * H, H, r=H ** -0.5), "qkv_b": rnd(3 * H, r=0.1),
                       "o_w": rnd(H, H, r=H ** -0.5), "o_b": rnd(H, r=0.1),
                       "ln1_g": rnd(H, r=0.1, one=True), "ln1_b": rnd(H, r=0.1),
                       "ff1_w": rnd(FF, H, r=H ** -0.5), "ff1_b": rnd(FF, r=0.1),
                       "ff2_w": rnd(H, FF, r=FF ** -0.5), "ff2_b": rnd(H, r=0.1),
                       "ln2_g": rnd(H, r=0.1, one=True), "ln2_b": rnd(H, r=0.1)})
        for batch in (1, 8, 32):
            x0 = rnd(batch, SEQ, H)
            mask_add = torch.zeros(batch, 1, 1, SEQ, device=dev, dtype=dt)

            def fwd():
                with torch.no_grad():
                    x = x0
                    for w in ws:
                        x = layer(x, w, mask_add)
                    return x

            for _ in range(3):
                fwd()
            torch.cuda.synchronize()
            times = []
            for _ in range(5 if QUICK else 30):
                t0 = time.perf_counter()
                fwd()
                torch.cuda.synchronize()
                times.append((time.perf_counter() - t0) * 1e3)
            times.sort()
            med = times[len(times) // 2]
            print(f"  torch encoder {name:5s} 12x768 batch {batch:2d} x {SEQ}: median {med:8.3f} ms")
            print(f"RESULT torch_encoder_{name}_b{batch}_s{SEQ}_ms {med:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

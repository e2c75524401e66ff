using BenchmarkDotNet.Attributes;
using KernelHarness.Runtime;

namespace KernelHarness.Benchmarks;

/// <summary>
/// The facade's cost per acquire/release pair, inside a simulated machine, against a plain method-call
/// pair measured in the same run (the Ratio column), in the production-like and the debug configuration.
/// </summary>
[MemoryDiagnoser]
public class FacadePairBenchmarks
{
    /// <summary>Pairs per benchmark invocation (the hand-over into the machine is amortised over them).</summary>
    public const int PairsPerInvoke = 20_000;

    private MachineHost host = null!;
    private readonly spinlock_t lock_ = new();
    private readonly object plain = new();

    [Params("production", "debug")]
    public string Config { get; set; } = "production";

    [GlobalSetup]
    public void Setup()
    {
        host = new MachineHost(Config == "debug" ? MachineHost.Debug : MachineHost.Production);
        host.Execute(() => FacadeLoops.SpinLockPair(lock_, 1000)); // warm the machine up
    }

    [GlobalCleanup]
    public void Cleanup() => host.Dispose();

    [Benchmark(Baseline = true, OperationsPerInvoke = PairsPerInvoke, Description = "plain call pair")]
    public void PlainCallPair() => host.Execute(() => FacadeLoops.PlainCallPair(plain, PairsPerInvoke));

    [Benchmark(OperationsPerInvoke = PairsPerInvoke, Description = "spin_lock+spin_unlock")]
    public void SpinLockPair() => host.Execute(() => FacadeLoops.SpinLockPair(lock_, PairsPerInvoke));

    [Benchmark(OperationsPerInvoke = PairsPerInvoke, Description = "get_cpu+put_cpu")]
    public void GetCpuPair() => host.Execute(() => FacadeLoops.GetCpuPair(PairsPerInvoke));

    [Benchmark(OperationsPerInvoke = PairsPerInvoke, Description = "local_irq_save+local_irq_restore")]
    public void IrqSavePair() => host.Execute(() => FacadeLoops.IrqSavePair(PairsPerInvoke));
}

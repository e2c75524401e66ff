using System;
using System.Threading;
using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using KernelHarness.Runtime;
using static KernelHarness.Kernel;

namespace KernelHarness.Benchmarks.Irq;

/// <summary>
/// The reference IRQ core's dispatch (generic_handle_irq in hard-IRQ context, note_interrupt included)
/// to a line with 1 and 4 shared actions, against invoking the same handler delegates directly.
/// </summary>
[MemoryDiagnoser]
public class IrqDispatchBenchmarks
{
    public const int PerInvoke = 20_000;
    private MachineHost host = null!;
    private readonly irq_handler_t[] handlers = new irq_handler_t[4];
    private static int hits;

    [Params(1, 4)]
    public int Actions { get; set; }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static irqreturn_t Handler(int irq, object? dev) { hits++; return IRQ_HANDLED; }

    [GlobalSetup]
    public void Setup()
    {
        host = new MachineHost(MachineHost.Production);
        for (int i = 0; i < handlers.Length; i++)
            handlers[i] = Handler;
        host.Execute(() =>
        {
            for (int i = 0; i < Actions; i++)
                request_irq(3, handlers[i], IRQF_SHARED, $"bench{i}", handlers.Length + i);
        });
    }

    [GlobalCleanup]
    public void Cleanup() => host.Dispose();

    [Benchmark(Baseline = true, OperationsPerInvoke = PerInvoke, Description = "plain delegate calls")]
    public void PlainDelegates() => host.Execute(() =>
    {
        var hs = handlers;
        int n = Actions;
        for (int k = 0; k < PerInvoke; k++)
        {
            irqreturn_t r = IRQ_NONE;
            for (int i = 0; i < n; i++)
                r |= hs[i](3, null);
        }
    });

    [Benchmark(OperationsPerInvoke = PerInvoke, Description = "generic_handle_irq")]
    public void Dispatch() => host.Execute(() =>
    {
        var irq = host.Machine.Irq;
        Arch.arch_local_irq_disable();
        Arch.raw_preempt_count() += HARDIRQ_OFFSET;
        for (int k = 0; k < PerInvoke; k++)
            irq.generic_handle_irq(3);
        Arch.raw_preempt_count() -= HARDIRQ_OFFSET;
        Arch.arch_local_irq_enable();
    });
}

/// <summary>local_irq_save/restore and get_cpu_var/put_cpu_var through the facade, against plain field updates.</summary>
public class CpuStateBenchmarks
{
    public const int PerInvoke = 20_000;
    private static readonly percpu<long> counter = DEFINE_PER_CPU<long>();
    private MachineHost host = null!;
    private ulong plainFlags = 0x200;
    private readonly long[] plainCounter = new long[4];

    [GlobalSetup]
    public void Setup() => host = new MachineHost(MachineHost.Production);

    [GlobalCleanup]
    public void Cleanup() => host.Dispose();

    [Benchmark(Baseline = true, OperationsPerInvoke = PerInvoke, Description = "plain field save/restore")]
    public void PlainFlags() => host.Execute(() =>
    {
        for (int k = 0; k < PerInvoke; k++)
        {
            ulong f = Volatile.Read(ref plainFlags);
            Volatile.Write(ref plainFlags, 0);
            Volatile.Write(ref plainFlags, f);
        }
    });

    [Benchmark(OperationsPerInvoke = PerInvoke, Description = "local_irq_save+restore")]
    public void IrqSaveRestore() => host.Execute(() =>
    {
        for (int k = 0; k < PerInvoke; k++)
        {
            local_irq_save(out ulong f);
            local_irq_restore(f);
        }
    });

    [Benchmark(OperationsPerInvoke = PerInvoke, Description = "plain array increment")]
    public void PlainCounter() => host.Execute(() =>
    {
        for (int k = 0; k < PerInvoke; k++)
            Volatile.Write(ref plainCounter[k & 3], plainCounter[k & 3] + 1);
    });

    [Benchmark(OperationsPerInvoke = PerInvoke, Description = "get_cpu_var+put_cpu_var")]
    public void GetPutCpuVar() => host.Execute(() =>
    {
        for (int k = 0; k < PerInvoke; k++)
        {
            get_cpu_var(counter)++;
            put_cpu_var(counter);
        }
    });
}

/// <summary>lockdep's cost per acquisition with a warm dependency cache: a nested pair taken in a fixed order, lockdep on vs off.</summary>
public class LockdepBenchmarks
{
    public const int PerInvoke = 20_000;
    private MachineHost host = null!;
    private readonly spinlock_t a = new(), b = new();

    [Params("off", "on")]
    public string Lockdep { get; set; } = "off";

    [GlobalSetup]
    public void Setup()
    {
        host = new MachineHost(MachineHost.Production with { Lockdep = Lockdep == "on" });
        host.Execute(() => { spin_lock(a); spin_lock(b); spin_unlock(b); spin_unlock(a); }); // warm the graph
    }

    [GlobalCleanup]
    public void Cleanup() => host.Dispose();

    [Benchmark(OperationsPerInvoke = PerInvoke * 2, Description = "spin_lock+unlock, nested A->B (per acquisition)")]
    public void NestedPair() => host.Execute(() =>
    {
        for (int k = 0; k < PerInvoke; k++)
        {
            spin_lock(a);
            spin_lock(b);
            spin_unlock(b);
            spin_unlock(a);
        }
    });
}

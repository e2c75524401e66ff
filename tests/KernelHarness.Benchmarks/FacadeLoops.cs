using System.Runtime.CompilerServices;
using static KernelHarness.Kernel;

namespace KernelHarness.Benchmarks;

/// <summary>The measured loops: each iteration is one acquire/release pair through the facade, or the plain baseline.</summary>
public static class FacadeLoops
{
    private static int sink;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void PlainAcquire(object o) => sink++;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void PlainRelease(object o) => sink--;

    /// <summary>Two plain, non-inlined method calls: the cost a kernel API pair is compared with.</summary>
    public static void PlainCallPair(object o, int n)
    {
        for (int i = 0; i < n; i++)
        {
            PlainAcquire(o);
            PlainRelease(o);
        }
    }

    public static void SpinLockPair(spinlock_t l, int n)
    {
        for (int i = 0; i < n; i++)
        {
            spin_lock(l);
            spin_unlock(l);
        }
    }

    public static void GetCpuPair(int n)
    {
        for (int i = 0; i < n; i++)
        {
            _ = get_cpu();
            put_cpu();
        }
    }

    public static void IrqSavePair(int n)
    {
        for (int i = 0; i < n; i++)
        {
            local_irq_save(out var flags);
            local_irq_restore(flags);
        }
    }
}

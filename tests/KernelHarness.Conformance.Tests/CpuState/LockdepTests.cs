using System.Linq;
using KernelHarness.Runtime;
using Xunit;
using static KernelHarness.Kernel;

namespace KernelHarness.Conformance.Tests.CpuState;

/// <summary>lockdep (Reference/Locking/Lockdep.cs): findings from one run in which the orders happened at different times.</summary>
public sealed class LockdepTests
{
    private static Machine Run(System.Action body, bool lockdep = true)
    {
        var m = new Machine(new MachineConfig { Seed = 1, Lockdep = lockdep });
        m.Run(body);
        return m;
    }

    [Fact]
    public void A_three_lock_cycle_built_at_different_times_is_reported_with_the_chain()
    {
        var a = NewLock();
        var b = NewLock2();
        var c = NewLock3();
        var m = Run(() =>
        {
            spin_lock(a); spin_lock(b); spin_unlock(b); spin_unlock(a);
            msleep(10);
            spin_lock(b); spin_lock(c); spin_unlock(c); spin_unlock(b);
            msleep(10);
            spin_lock(c); spin_lock(a); spin_unlock(a); spin_unlock(c);
        });
        var r = Assert.Single(m.Reports);
        Assert.Equal(ReportKind.LockdepCircularDependency, r.Kind);
        Assert.Contains(r.Details, d => d.Contains("the existing dependency chain", System.StringComparison.Ordinal));
        Assert.True(r.Details.Count(d => d.StartsWith("-> #", System.StringComparison.Ordinal)) >= 2, string.Join("\n", r.Details));
    }

    // Lock classes are keyed by where the lock was created (as lockdep keys static locks by address).
    private static spinlock_t NewLock() => new();
    private static spinlock_t NewLock2() => new();
    private static spinlock_t NewLock3() => new();

    [Fact]
    public void A_trylock_in_the_reverse_order_is_not_an_inversion_and_a_warm_order_stays_silent()
    {
        var a = NewLock();
        var b = NewLock2();
        var m = Run(() =>
        {
            for (int i = 0; i < 50; i++)
            {
                spin_lock(a); spin_lock(b); spin_unlock(b); spin_unlock(a);
            }
            spin_lock(b);
            if (spin_trylock(a))
                spin_unlock(a);
            spin_unlock(b);
        });
        Assert.Empty(m.Reports);
    }

    [Fact]
    public void A_lock_taken_in_a_hard_irq_handler_and_with_spin_lock_in_a_task_is_inconsistent()
    {
        var l = new spinlock_t();
        var m = Run(() =>
        {
            request_irq(8, (q, d) => { spin_lock(l); spin_unlock(l); return IRQ_HANDLED; }, 0, "lk", null);
            Machine.Current.RaiseIrq(8);
            cpu_relax();
            msleep(10);
            spin_lock(l); // interrupts on: the handler could interrupt us here
            spin_unlock(l);
            free_irq(8, null);
        });
        var r = Assert.Single(m.Reports);
        Assert.Equal(ReportKind.LockdepInconsistentState, r.Kind);
        Assert.Contains(r.Details, d => d.Contains("IN-HARDIRQ-W", System.StringComparison.Ordinal));
    }

    [Fact]
    public void Recursive_spin_lock_is_reported_without_hanging()
    {
        var l = new spinlock_t();
        var m = new Machine(new MachineConfig { Seed = 1, SpinLockupThreshold = 2000 });
        m.Run(() =>
        {
            spin_lock(l);
            spin_lock(l);
        });
        Assert.Contains(m.Reports, r => r.Kind == ReportKind.LockdepRecursiveLocking);
    }
}

using System.Linq;
using KernelHarness.Runtime;
using KernelHarness.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Kernel;

namespace KernelHarness.Tests.Reference.Locking;

public class LockdepTests
{
    [Fact]
    public void An_ab_ba_order_seen_at_different_times_is_reported_without_deadlocking()
    {
        var a = new spinlock_t { Name = "a" };
        var b = new spinlock_t { Name = "b" };
        int abLine = 0, baLine = 0;
        var m = Sim.Run(() =>
        {
            spin_lock(a);
            spin_lock(b); abLine = Sim.Here();
            spin_unlock(b);
            spin_unlock(a);
            msleep(10);
            spin_lock(b);
            spin_lock(a); baLine = Sim.Here();
            spin_unlock(a);
            spin_unlock(b);
        });
        var r = Sim.Single(m, ReportKind.LockdepCircularDependency);
        Assert.Equal("WARNING: possible circular locking dependency detected", r.Title);
        Assert.Contains(r.Details, d => d.Contains($"(a), at: {Sim.Site(baLine)}"));          // the new acquisition
        Assert.Contains(r.Details, d => d.Contains($"taken while holding (a), at: {Sim.Site(abLine)}")); // the old chain
        Assert.Contains(" *** DEADLOCK ***", r.Details);
        Sim.InLog(m, r);
    }

    [Fact]
    public void An_ab_ba_order_in_two_kthreads_that_never_overlap_is_reported()
    {
        var a = new mutex();
        var b = new mutex();
        var m = Sim.Run(() =>
        {
            var first = new completion();
            kthread_run(_ => { mutex_lock(a); mutex_lock(b); mutex_unlock(b); mutex_unlock(a); complete(first); return 0; }, null, "ab");
            wait_for_completion(first);
            var second = new completion();
            kthread_run(_ => { mutex_lock(b); mutex_lock(a); mutex_unlock(a); mutex_unlock(b); complete(second); return 0; }, null, "ba");
            wait_for_completion(second);
        });
        var r = Sim.Single(m, ReportKind.LockdepCircularDependency);
        Assert.Equal("ba", r.Comm);
    }

    [Fact]
    public void A_trylock_in_the_reverse_order_does_not_hide_a_later_inversion()
    {
        var a = new mutex { Name = "a" };
        var b = new mutex { Name = "b" };
        int reportsAfterTrylock = -1;
        var m = Sim.Run(() =>
        {
            mutex_lock(a);
            mutex_lock(b);
            mutex_unlock(b);
            mutex_unlock(a);
            mutex_lock(b);
            if (mutex_trylock(a) != 0) // cannot deadlock: no report, and no b -> a dependency
                mutex_unlock(a);
            mutex_unlock(b);
            reportsAfterTrylock = Machine.Current.Reports.Count;
            mutex_lock(b);
            mutex_lock(a); // can: reported
            mutex_unlock(a);
            mutex_unlock(b);
        });
        Assert.Equal(0, reportsAfterTrylock);
        Sim.Single(m, ReportKind.LockdepCircularDependency);
    }

    [Fact]
    public void A_consistent_order_is_silent()
    {
        var a = new spinlock_t();
        var b = new spinlock_t();
        var m = Sim.Run(() =>
        {
            for (int i = 0; i < 3; i++)
            {
                spin_lock(a);
                spin_lock(b);
                spin_unlock(b);
                spin_unlock(a);
            }
        });
        Sim.NoReports(m);
    }

    [Fact]
    public void Taking_a_held_mutex_again_is_reported_as_recursive_locking()
    {
        var mx = new mutex();
        var m = new Machine(new MachineConfig { Seed = 1 });
        var outcome = m.Run(() =>
        {
            mutex_lock(mx);
            mutex_lock(mx);
        });
        Assert.Equal(RunOutcome.Deadlocked, outcome);
        var r = Sim.Single(m, ReportKind.LockdepRecursiveLocking);
        Assert.Equal("WARNING: possible recursive locking detected", r.Title);
        Assert.Contains(r.Details, d => d.Contains("insmod/1 is trying to acquire lock:"));
        Assert.Contains("but task is already holding lock:", r.Details);
        Sim.InLog(m, r);
    }

    [Fact]
    public void A_lock_taken_in_hardirq_and_with_irqs_enabled_is_an_inconsistent_lock_state()
    {
        var l = new spinlock_t();
        var m = Sim.Run(() =>
        {
            // A simulated hard-IRQ handler taking the lock.
            local_irq_disable();
            irq_enter();
            spin_lock(l);
            spin_unlock(l);
            irq_exit();
            local_irq_enable();
            // Process context taking it with interrupts on.
            spin_lock(l);
            spin_unlock(l);
        });
        var r = Sim.Single(m, ReportKind.LockdepInconsistentState);
        Assert.Equal("WARNING: inconsistent lock state", r.Title);
        Assert.Contains("inconsistent {IN-HARDIRQ-W} -> {HARDIRQ-ON-W} usage.", r.Details);
        Sim.InLog(m, r);
    }

    [Fact]
    public void A_hardirq_lock_taken_with_spin_lock_irqsave_elsewhere_is_silent()
    {
        var l = new spinlock_t();
        var m = Sim.Run(() =>
        {
            local_irq_disable();
            irq_enter();
            spin_lock(l);
            spin_unlock(l);
            irq_exit();
            local_irq_enable();
            spin_lock_irqsave(l, out var flags);
            spin_unlock_irqrestore(l, flags);
        });
        Sim.NoReports(m);
    }

    [Fact]
    public void A_lock_taken_in_a_timer_and_with_softirqs_enabled_is_an_inconsistent_lock_state()
    {
        var l = new spinlock_t();
        var timer = new timer_list();
        var m = Sim.Run(() =>
        {
            var fired = new completion();
            timer_setup(timer, _ => { spin_lock(l); spin_unlock(l); complete(fired); }, 0);
            mod_timer(timer, jiffies + 1);
            wait_for_completion(fired);
            spin_lock(l); // BH enabled: the timer could interrupt us and spin forever
            spin_unlock(l);
        });
        var r = Sim.Single(m, ReportKind.LockdepInconsistentState);
        Assert.Contains("inconsistent {IN-SOFTIRQ-W} -> {SOFTIRQ-ON-W} usage.", r.Details);
    }

    [Fact]
    public void A_tasklet_lock_taken_with_spin_lock_bh_in_process_context_is_silent()
    {
        var l = new spinlock_t();
        var t = new tasklet_struct();
        var m = Sim.Run(() =>
        {
            var ran = new completion();
            tasklet_setup(t, _ => { spin_lock(l); spin_unlock(l); complete(ran); });
            tasklet_schedule(t);
            wait_for_completion(ran);
            spin_lock_bh(l);
            spin_unlock_bh(l);
        });
        Sim.NoReports(m);
    }

    [Fact]
    public void With_lockdep_off_an_inversion_is_not_reported()
    {
        var a = new spinlock_t();
        var b = new spinlock_t();
        var m = Sim.Run(() =>
        {
            spin_lock(a); spin_lock(b); spin_unlock(b); spin_unlock(a);
            spin_lock(b); spin_lock(a); spin_unlock(a); spin_unlock(b);
        }, new MachineConfig { Lockdep = false });
        Assert.DoesNotContain(m.Reports, r => r.Kind == ReportKind.LockdepCircularDependency);
    }
}

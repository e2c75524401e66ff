using System.Linq;
using KernelHarness.Runtime;
using KernelHarness.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Kernel;

namespace KernelHarness.Tests.Runtime.Reports;

public class DeadlockAndLockupTests
{
    [Fact]
    public void Two_kthreads_taking_mutexes_ab_ba_deadlock_and_every_task_is_reported_with_state_and_stack()
    {
        var a = new mutex { Name = "a" };
        var b = new mutex { Name = "b" };
        var both = new completion();
        var m = new Machine(new MachineConfig { Seed = 11, Lockdep = false });
        var outcome = m.Run(() =>
        {
            kthread_run(_ => { mutex_lock(a); msleep(10); mutex_lock(b); mutex_unlock(b); mutex_unlock(a); complete(both); return 0; }, null, "ab");
            kthread_run(_ => { mutex_lock(b); msleep(10); mutex_lock(a); mutex_unlock(a); mutex_unlock(b); complete(both); return 0; }, null, "ba");
            wait_for_completion(both);
            wait_for_completion(both);
        });
        Assert.Equal(RunOutcome.Deadlocked, outcome);
        var r = Sim.Single(m, ReportKind.HungTask);
        Assert.StartsWith("INFO: every task is blocked", r.Title);
        Assert.Contains(r.Details, d => d.StartsWith("INFO: task ab:") && d.EndsWith("blocked for more than 120 seconds."));
        Assert.Contains(r.Details, d => d.StartsWith("INFO: task ba:"));
        Assert.Contains(r.Details, d => d.StartsWith("INFO: task insmod:1"));
        Assert.Contains(r.Details, d => d.StartsWith("task:ab") && d.Contains("state:D") && d.Contains("blocked in mutex_lock"));
        Assert.Contains(r.Details, d => d.StartsWith("task:insmod") && d.Contains("blocked in wait_for_completion"));
        // Each task's stack (student frames) and the locks it holds.
        Assert.Contains(r.Details, d => d.Contains(nameof(DeadlockAndLockupTests)) && d.Contains(".cs:"));
        Assert.Contains(r.Details, d => d.Contains("holds (a){Mutex}"));
        Assert.Contains(r.Details, d => d.Contains("holds (b){Mutex}"));
        Sim.InLog(m, r);
    }

    [Fact]
    public void With_lockdep_the_ab_ba_deadlock_is_also_reported_as_a_circular_dependency()
    {
        var a = new mutex();
        var b = new mutex();
        var both = new completion();
        var m = new Machine(new MachineConfig { Seed = 11 });
        var outcome = m.Run(() =>
        {
            kthread_run(_ => { mutex_lock(a); msleep(10); mutex_lock(b); mutex_unlock(b); mutex_unlock(a); complete(both); return 0; }, null, "ab");
            kthread_run(_ => { mutex_lock(b); msleep(10); mutex_lock(a); mutex_unlock(a); mutex_unlock(b); complete(both); return 0; }, null, "ba");
            wait_for_completion(both);
            wait_for_completion(both);
        });
        Assert.Equal(RunOutcome.Deadlocked, outcome);
        Sim.Single(m, ReportKind.LockdepCircularDependency);
        Sim.Single(m, ReportKind.HungTask);
    }

    [Fact]
    public void Waiting_on_a_completion_nobody_completes_is_reported_instead_of_hanging()
    {
        var never = new completion();
        var m = new Machine();
        var outcome = m.Run(() => wait_for_completion(never));
        Assert.Equal(RunOutcome.Deadlocked, outcome);
        var r = Sim.Single(m, ReportKind.HungTask);
        Assert.Contains(r.Details, d => d.StartsWith("task:insmod") && d.Contains("state:D") && d.Contains("wait_for_completion"));
        Sim.InLog(m, r);
    }

    [Fact]
    public void An_interruptible_sleep_nobody_wakes_is_reported_with_state_s()
    {
        var wq = new wait_queue_head_t();
        var m = new Machine();
        var outcome = m.Run(() => wait_event_interruptible(wq, () => false));
        Assert.Equal(RunOutcome.Deadlocked, outcome);
        var r = Sim.Single(m, ReportKind.HungTask);
        Assert.Contains(r.Details, d => d.StartsWith("task:insmod") && d.Contains("state:S"));
    }

    [Fact]
    public void A_timed_sleep_is_not_a_deadlock()
    {
        var never = new completion();
        ulong left = 1;
        var m = new Machine();
        var outcome = m.Run(() => left = wait_for_completion_timeout(never, 5));
        Assert.Equal(RunOutcome.Completed, outcome);
        Assert.Equal(0UL, left);
        Sim.NoReports(m);
    }

    [Fact]
    public void A_spinlock_never_released_is_reported_as_a_lockup()
    {
        var l = new spinlock_t { Name = "l" };
        var m = new Machine(new MachineConfig { SpinLockupThreshold = 2_000, Lockdep = false });
        var outcome = m.Run(() =>
        {
            kthread_run(_ => { spin_lock(l); while (true) cpu_relax(); }, null, "holder");
            msleep(5);
            spin_lock(l);
            spin_unlock(l);
        });
        Assert.Equal(RunOutcome.Lockup, outcome);
        var r = Sim.Single(m, ReportKind.SpinlockLockup);
        Assert.Matches(@"^BUG: spinlock lockup suspected on CPU#\d, insmod/1$", r.Title);
        Assert.Contains(r.Details, d => d.Contains("lock: l, .owner: holder/"));
        Sim.InLog(m, r);
    }

    [Fact]
    public void Taking_a_held_spinlock_again_reports_recursive_locking_and_a_lockup()
    {
        var l = new spinlock_t();
        var m = new Machine(new MachineConfig { SpinLockupThreshold = 2_000 });
        var outcome = m.Run(() =>
        {
            spin_lock(l);
            spin_lock(l);
        });
        Assert.Equal(RunOutcome.Lockup, outcome);
        Sim.Single(m, ReportKind.LockdepRecursiveLocking);
        var r = Sim.Single(m, ReportKind.SpinlockLockup);
        Assert.Contains(r.Details, d => d.Contains(".owner: insmod/1"));
    }
}

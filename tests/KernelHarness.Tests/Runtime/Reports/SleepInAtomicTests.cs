using System.Linq;
using KernelHarness.Runtime;
using KernelHarness.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Kernel;

namespace KernelHarness.Tests.Runtime.Reports;

public class SleepInAtomicTests
{
    [Fact]
    public void Msleep_under_spin_lock_names_the_call_site_in_atomic_pid_and_name()
    {
        var l = new spinlock_t { Name = "rx_lock" };
        int line = 0, pid = 0;
        var m = Sim.Run(() =>
        {
            pid = current.pid;
            spin_lock(l);
            msleep(10); line = Sim.Here();
            spin_unlock(l);
        });
        var r = Sim.Single(m, ReportKind.SleepInAtomic);
        Assert.Equal($"BUG: sleeping function called from invalid context at {Sim.Site(line)}", r.Title);
        Assert.Equal(Sim.Site(line), r.Location);
        Assert.Contains($"in_atomic(): 1, irqs_disabled(): 0, non_block: 0, pid: {pid}, name: insmod", r.Details);
        Assert.Contains(r.Details, d => d.Contains("spinlock 'rx_lock' is held"));
        Assert.Equal(pid, r.Pid);
        Assert.Equal("insmod", r.Comm);
        Assert.Equal("msleep", r.Function);
        Assert.Contains(r.CallTrace, f => f.Contains(nameof(SleepInAtomicTests)) && f.Contains(Sim.Site(line)));
        Sim.InLog(m, r);
        Assert.Contains("Call Trace:", m.Log.Dump());
    }

    [Fact]
    public void Mutex_lock_with_interrupts_disabled_reports_irqs_disabled()
    {
        var mx = new mutex();
        var m = Sim.Run(() =>
        {
            local_irq_disable();
            mutex_lock(mx);
            mutex_unlock(mx);
            local_irq_enable();
        });
        var r = Sim.Single(m, ReportKind.SleepInAtomic);
        Assert.Contains(r.Details, d => d.StartsWith("in_atomic(): 0, irqs_disabled(): 1,"));
        Sim.InLog(m, r);
    }

    [Fact]
    public void Sleeping_in_a_kthread_names_that_kthread()
    {
        var done = new completion();
        int pid = 0;
        var m = Sim.Run(() =>
        {
            var k = kthread_run(_ =>
            {
                spin_lock_irqsave(new spinlock_t(), out var flags);
                schedule_timeout(1);
                local_irq_restore(flags);
                preempt_enable();
                complete(done);
                return 0;
            }, null, "mydrv");
            pid = k.pid;
            wait_for_completion(done);
        });
        var r = m.Reports.First(x => x.Kind == ReportKind.SleepInAtomic);
        Assert.Contains(r.Details, d => d.Contains($"in_atomic(): 1, irqs_disabled(): 1, non_block: 0, pid: {pid}, name: mydrv"));
        Assert.Equal("mydrv", r.Comm);
    }

    [Fact]
    public void Schedule_with_preemption_disabled_also_reports_scheduling_while_atomic()
    {
        var m = Sim.Run(() =>
        {
            preempt_disable();
            set_current_state(TASK_INTERRUPTIBLE);
            schedule_timeout(2);
            preempt_enable();
        });
        Sim.Single(m, ReportKind.SleepInAtomic);
        var r = Sim.Single(m, ReportKind.SchedulingWhileAtomic);
        Assert.StartsWith("BUG: scheduling while atomic: insmod/1/0x00000001", r.Title);
        Sim.InLog(m, r);
    }

    [Fact]
    public void Sleeping_inside_an_rcu_read_section_is_reported()
    {
        var m = Sim.Run(() =>
        {
            rcu_read_lock();
            msleep(1);
            rcu_read_unlock();
        });
        var r = Sim.Single(m, ReportKind.SleepInAtomic);
        Assert.Contains("RCU nest depth: 1, expected: 0", r.Details);
    }

    [Fact]
    public void The_same_call_site_is_reported_once()
    {
        var l = new spinlock_t();
        var m = Sim.Run(() =>
        {
            for (int i = 0; i < 3; i++)
            {
                spin_lock(l);
                msleep(1);
                spin_unlock(l);
            }
        });
        Sim.Single(m, ReportKind.SleepInAtomic);
    }

    [Fact]
    public void Busy_waits_in_atomic_context_are_allowed()
    {
        var l = new spinlock_t();
        var m = Sim.Run(() =>
        {
            spin_lock(l);
            udelay(50);
            mdelay(1);
            ndelay(100);
            spin_unlock(l);
        });
        Sim.NoReports(m);
    }

    [Fact]
    public void Sleeping_in_a_timer_function_reports_softirq_context()
    {
        var timer = new timer_list();
        var done = new completion();
        var m = Sim.Run(() =>
        {
            // The sleep kills the timer function, so nothing completes: wait with a timeout.
            timer_setup(timer, _ => { msleep(1); complete(done); }, 0);
            mod_timer(timer, jiffies + 1);
            wait_for_completion_timeout(done, HZ);
        });
        var r = Sim.Single(m, ReportKind.SleepInAtomic);
        Assert.Contains(r.Details, d => d.Contains("in_atomic(): 1, irqs_disabled(): 0"));
        Assert.Contains(r.Details, d => d.Contains("softirq context"));
        Assert.Contains(m.Reports, x => x.Kind == ReportKind.SchedulingWhileAtomic && x.Title.EndsWith("/0x00000100"));
    }
}

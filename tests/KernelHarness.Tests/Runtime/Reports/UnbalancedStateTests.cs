using System.Linq;
using KernelHarness.Runtime;
using KernelHarness.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Kernel;

namespace KernelHarness.Tests.Runtime.Reports;

public class UnbalancedStateTests
{
    private static Machine RunKthread(System.Func<object?, int> fn)
    {
        return Sim.Run(() =>
        {
            var k = kthread_run(fn, null, "leaky");
            msleep(50); // the thread runs and exits meanwhile
        });
    }

    [Fact]
    public void A_kthread_returning_with_preemption_disabled_is_reported()
    {
        var m = RunKthread(_ => { preempt_disable(); return 0; });
        var r = Sim.Single(m, ReportKind.PreemptCountLeak);
        Assert.Matches(@"^note: leaky\[\d+\] exited with preempt_count 1$", r.Title);
        Assert.Equal("leaky", r.Comm);
        Sim.InLog(m, r);
    }

    [Fact]
    public void A_kthread_returning_with_interrupts_disabled_is_reported()
    {
        var m = RunKthread(_ => { local_irq_save(out ulong _); return 0; });
        var r = Sim.Single(m, ReportKind.IrqStateLeak);
        Assert.Matches(@"^note: leaky\[\d+\] exited with irqs disabled$", r.Title);
        Sim.InLog(m, r);
    }

    [Fact]
    public void A_kthread_returning_with_a_spinlock_held_reports_the_lock_and_the_count()
    {
        var l = new spinlock_t { Name = "l" };
        var m = RunKthread(_ => { spin_lock(l); return 0; });
        Sim.Single(m, ReportKind.PreemptCountLeak);
        var r = Sim.Single(m, ReportKind.LockHeldAtExit);
        Assert.Matches(@"^BUG: leaky/\d+ still has locks held!$", r.Title);
        Assert.Contains(r.Details, d => d.Contains("(l){Spin}"));
        Sim.InLog(m, r);
    }

    [Fact]
    public void The_init_task_returning_with_a_mutex_held_is_reported()
    {
        var mx = new mutex();
        var m = Sim.Run(() => mutex_lock(mx));
        var r = Sim.Single(m, ReportKind.LockHeldAtExit);
        Assert.Equal("BUG: insmod/1 still has locks held!", r.Title);
    }

    [Fact]
    public void A_tasklet_returning_with_preemption_disabled_is_reported_and_repaired()
    {
        var t = new tasklet_struct();
        int after = -1;
        var m = Sim.Run(() =>
        {
            tasklet_setup(t, _ => preempt_disable());
            tasklet_schedule(t);
            msleep(20);
            after = preempt_count();
        });
        var r = Sim.Single(m, ReportKind.PreemptCountLeak);
        Assert.Contains("preempt leak: 00000100 -> 00000101", r.Title);
        Assert.StartsWith("tasklet:", r.Title);
        Assert.Equal(0, after);
        Sim.InLog(m, r);
    }

    [Fact]
    public void A_timer_function_returning_with_interrupts_disabled_is_reported()
    {
        var timer = new timer_list();
        bool after = true;
        var m = Sim.Run(() =>
        {
            timer_setup(timer, _ => local_irq_disable(), 0);
            mod_timer(timer, jiffies + 2);
            msleep(50);
            after = irqs_disabled();
        });
        var r = Sim.Single(m, ReportKind.IrqStateLeak);
        Assert.StartsWith("timer:", r.Title);
        Assert.Contains("disabled interrupts and did not restore them", r.Title);
        Assert.False(after);
        Sim.InLog(m, r);
    }

    [Fact]
    public void A_timer_function_returning_with_a_spinlock_held_is_reported()
    {
        var timer = new timer_list();
        var l = new spinlock_t();
        var m = Sim.Run(() =>
        {
            timer_setup(timer, _ => spin_lock(l), 0);
            mod_timer(timer, jiffies + 2);
            msleep(50);
        });
        Assert.Contains(m.Reports, r => r.Kind == ReportKind.PreemptCountLeak && r.Title.StartsWith("timer:"));
        Assert.Contains(m.Reports, r => r.Kind == ReportKind.LockHeldAtExit && r.Title.Contains("timer"));
    }

    [Fact]
    public void A_work_item_leaking_preemption_is_reported_as_workqueue_leaked_atomic()
    {
        var w = new work_struct();
        var m = Sim.Run(() =>
        {
            INIT_WORK(w, _ => preempt_disable());
            schedule_work(w);
            flush_work(w);
        });
        var r = m.Reports.First(x => x.Kind == ReportKind.PreemptCountLeak);
        Assert.StartsWith("BUG: workqueue leaked atomic, lock or RCU: kworker/events", r.Title);
    }

    [Fact]
    public void A_task_exiting_inside_rcu_read_lock_is_reported()
    {
        var m = RunKthread(_ => { rcu_read_lock(); return 0; });
        var r = Sim.Single(m, ReportKind.LockHeldAtExit);
        Assert.Contains("RCU read-side critical section", r.Title);
    }

    [RequiresSubsystemFact("Irq")]
    public void An_interrupt_handler_returning_with_preemption_disabled_is_reported()
    {
        int pcInHandler = 0;
        bool irqsOffInHandler = false;
        int after = -1;
        var m = Sim.Run(() =>
        {
            var dev = new object();
            Assert.Equal(0, request_irq(7, (irq, d) => { pcInHandler = preempt_count(); irqsOffInHandler = irqs_disabled(); preempt_disable(); return IRQ_HANDLED; }, 0, "leaky", dev));
            Machine.Current.RaiseIrq(7);
            msleep(5);
            after = preempt_count();
            free_irq(7, dev);
        });
        Assert.Equal(HARDIRQ_OFFSET, pcInHandler);
        Assert.True(irqsOffInHandler);
        Assert.Equal(0, after);
        var r = Sim.Single(m, ReportKind.PreemptCountLeak);
        Assert.StartsWith("irq 7 handler preempt leak: 00010000 -> 00010001", r.Title);
        Sim.InLog(m, r);
    }

    [Fact]
    public void A_bug_on_in_a_tasklet_kills_the_tasklet_not_the_cpu()
    {
        var t = new tasklet_struct();
        bool after = false;
        var m = Sim.Run(() =>
        {
            tasklet_setup(t, _ => BUG_ON(true));
            tasklet_schedule(t);
            msleep(20);
            after = true;
        });
        Assert.True(after);
        Assert.Equal(RunOutcome.Completed, m.Outcome);
        Assert.StartsWith("kernel BUG at", Sim.Single(m, ReportKind.Oops).Title);
    }
}

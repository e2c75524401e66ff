using System.Collections.Generic;
using KernelHarness.Runtime;
using KernelHarness.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Kernel;

namespace KernelHarness.Tests.Reference.Sched;

public class WaitQueueTests
{
    [Fact]
    public void Wait_event_sleeps_until_the_condition_is_true_and_wake_up_is_called()
    {
        var wq = new wait_queue_head_t();
        bool ready = false;
        ulong waitedFrom = 0, wokeAt = 0;
        var m = Sim.Run(() =>
        {
            kthread_run(_ => { msleep(30); ready = true; wake_up(wq); return 0; }, null, "producer");
            waitedFrom = jiffies;
            wait_event(wq, () => ready);
            wokeAt = jiffies;
        });
        Assert.True(ready);
        Assert.True(wokeAt - waitedFrom >= msecs_to_jiffies(30));
        Sim.NoReports(m);
    }

    [Fact]
    public void Wait_event_with_a_true_condition_does_not_sleep()
    {
        var wq = new wait_queue_head_t();
        var m = new Machine(new MachineConfig { Trace = true });
        m.Run(() => wait_event(wq, () => true));
        Assert.DoesNotContain(m.Trace, e => e.Contains(":sleep "));
    }

    [Fact]
    public void A_wake_up_without_the_condition_puts_the_waiter_back_to_sleep()
    {
        var wq = new wait_queue_head_t();
        int value = 0, checks = 0;
        var m = Sim.Run(() =>
        {
            kthread_run(_ =>
            {
                for (int i = 1; i <= 3; i++)
                {
                    msleep(5);
                    value = i;
                    wake_up(wq);
                }
                return 0;
            }, null, "producer");
            wait_event(wq, () => { checks++; return value == 3; });
        });
        Assert.Equal(3, value);
        Assert.True(checks >= 3, $"condition checked {checks} times");
        Sim.NoReports(m);
    }

    [Fact]
    public void Wait_event_timeout_returns_zero_after_the_timeout_when_the_condition_stays_false()
    {
        var wq = new wait_queue_head_t();
        long ret = -1;
        ulong before = 0, after = 0;
        Sim.Run(() =>
        {
            before = jiffies;
            ret = wait_event_timeout(wq, () => false, 10);
            after = jiffies;
        });
        Assert.Equal(0, ret);
        Assert.True(after - before >= 10);
    }

    [Fact]
    public void Wait_event_timeout_returns_the_jiffies_left_when_the_condition_comes_true()
    {
        var wq = new wait_queue_head_t();
        long ret = -1;
        bool ready = false;
        Sim.Run(() =>
        {
            kthread_run(_ => { msleep(20); ready = true; wake_up(wq); return 0; }, null, "p");
            ret = wait_event_timeout(wq, () => ready, 5 * (long)HZ);
        });
        Assert.InRange(ret, 1, 5 * (long)HZ - 2);
    }

    [Fact]
    public void Wait_event_interruptible_returns_erestartsys_on_a_signal()
    {
        var wq = new wait_queue_head_t();
        int ret = 0;
        var done = new completion();
        Sim.Run(() =>
        {
            var k = kthread_run(_ => { ret = wait_event_interruptible(wq, () => false); complete(done); return 0; }, null, "w");
            msleep(5);
            send_sig(9, k, 0);
            wait_for_completion(done);
        });
        Assert.Equal(-ERESTARTSYS, ret);
    }

    [Fact]
    public void Prepare_to_wait_and_finish_wait_form_the_open_coded_wait_loop()
    {
        var wq = new wait_queue_head_t();
        bool ready = false;
        uint stateAfter = 99;
        var m = Sim.Run(() =>
        {
            kthread_run(_ => { msleep(10); ready = true; wake_up_interruptible(wq); return 0; }, null, "p");
            var wait = DEFINE_WAIT();
            while (true)
            {
                prepare_to_wait(wq, wait, TASK_INTERRUPTIBLE);
                if (ready)
                    break;
                schedule();
            }
            finish_wait(wq, wait);
            stateAfter = current.__state;
        });
        Assert.True(ready);
        Assert.Equal(TASK_RUNNING, stateAfter);
        Sim.NoReports(m);
    }

    [Fact]
    public void Wake_up_all_wakes_every_waiter()
    {
        var wq = new wait_queue_head_t();
        bool go = false;
        int woken = 0;
        var done = new completion();
        var m = Sim.Run(() =>
        {
            for (int k = 0; k < 3; k++)
                kthread_run(_ => { wait_event(wq, () => go); woken++; complete(done); return 0; }, null, $"w{k}");
            msleep(10);
            go = true;
            wake_up_all(wq);
            for (int k = 0; k < 3; k++)
                wait_for_completion(done);
        });
        Assert.Equal(3, woken);
        Sim.NoReports(m);
    }

    [Fact]
    public void Wake_up_wakes_one_exclusive_waiter()
    {
        var wq = new wait_queue_head_t();
        var runs = new List<string>();
        var m = Sim.Run(() =>
        {
            for (int k = 0; k < 2; k++)
            {
                string name = $"x{k}";
                kthread_run(_ =>
                {
                    var w = DEFINE_WAIT();
                    prepare_to_wait_exclusive(wq, w, TASK_INTERRUPTIBLE);
                    schedule();
                    finish_wait(wq, w);
                    runs.Add(name);
                    return 0;
                }, null, name);
            }
            msleep(10);
            wake_up(wq);
            msleep(10);
            Assert.Single(runs);
            wake_up(wq);
            msleep(10);
        });
        Assert.Equal(2, runs.Count);
        Sim.NoReports(m);
    }
}

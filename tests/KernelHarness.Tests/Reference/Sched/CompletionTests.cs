using KernelHarness.Runtime;
using KernelHarness.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Kernel;

namespace KernelHarness.Tests.Reference.Sched;

public class CompletionTests
{
    [Fact]
    public void Wait_for_completion_returns_after_complete_from_another_thread()
    {
        var c = new completion();
        bool done = false;
        var m = Sim.Run(() =>
        {
            kthread_run(_ => { msleep(10); done = true; complete(c); return 0; }, null, "c");
            wait_for_completion(c);
            Assert.True(done);
        });
        Sim.NoReports(m);
        Assert.Equal(RunOutcome.Completed, m.Outcome);
    }

    [Fact]
    public void A_complete_before_the_wait_is_not_lost()
    {
        var c = new completion();
        var m = Sim.Run(() =>
        {
            complete(c);
            complete(c);
            wait_for_completion(c);
            wait_for_completion(c);
        });
        Assert.Equal(0u, c.done);
        Assert.Equal(RunOutcome.Completed, m.Outcome);
    }

    [Fact]
    public void Complete_wakes_one_waiter_and_complete_all_wakes_the_rest()
    {
        var c = new completion();
        int woken = 0, afterOne = -1;
        var m = Sim.Run(() =>
        {
            for (int k = 0; k < 3; k++)
                kthread_run(_ => { wait_for_completion(c); woken++; return 0; }, null, $"w{k}");
            msleep(5);
            complete(c);
            msleep(5);
            afterOne = woken;
            complete_all(c);
            msleep(5);
        });
        Assert.Equal(1, afterOne);
        Assert.Equal(3, woken);
        Sim.NoReports(m);
    }

    [Fact]
    public void Wait_for_completion_timeout_returns_zero_on_timeout_and_the_time_left_otherwise()
    {
        var never = new completion();
        var soon = new completion();
        ulong timedOut = 1, inTime = 0;
        Sim.Run(() =>
        {
            timedOut = wait_for_completion_timeout(never, 3);
            kthread_run(_ => { msleep(10); complete(soon); return 0; }, null, "c");
            inTime = wait_for_completion_timeout(soon, 10 * HZ);
        });
        Assert.Equal(0UL, timedOut);
        Assert.InRange(inTime, 1UL, 10 * HZ - 1);
    }

    [Fact]
    public void Reinit_completion_forgets_earlier_completes()
    {
        var c = new completion();
        Sim.Run(() =>
        {
            complete(c);
            reinit_completion(c);
        });
        Assert.Equal(0u, c.done);
    }
}

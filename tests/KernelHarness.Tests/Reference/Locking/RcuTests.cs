using KernelHarness.Runtime;
using KernelHarness.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Kernel;

namespace KernelHarness.Tests.Reference.Locking;

public class RcuTests
{
    [Fact]
    public void Rcu_read_sections_nest_and_do_not_touch_the_preempt_count()
    {
        int pc = -1;
        var m = Sim.Run(() =>
        {
            rcu_read_lock();
            rcu_read_lock();
            pc = preempt_count();
            rcu_read_unlock();
            rcu_read_unlock();
        });
        Assert.Equal(0, pc);
        Sim.NoReports(m);
    }

    [Fact]
    public void Synchronize_rcu_waits_for_readers_that_were_inside()
    {
        bool readerDone = false, sawDone = false;
        var done = new completion();
        var m = Sim.Run(() =>
        {
            var inside = new completion();
            kthread_run(_ =>
            {
                rcu_read_lock();
                complete(inside);
                mdelay(30);
                readerDone = true;
                rcu_read_unlock();
                complete(done);
                return 0;
            }, null, "reader");
            wait_for_completion(inside);
            synchronize_rcu();
            sawDone = readerDone;
            wait_for_completion(done);
        });
        Assert.True(sawDone);
        Sim.NoReports(m);
    }

    [Fact]
    public void Rcu_read_unlock_without_lock_warns()
    {
        var m = Sim.Run(() => rcu_read_unlock());
        var r = Sim.Single(m, ReportKind.Warning);
        Assert.Equal("rcu_read_unlock() without rcu_read_lock()", r.Title);
    }
}

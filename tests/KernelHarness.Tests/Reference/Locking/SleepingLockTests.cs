using KernelHarness.Runtime;
using KernelHarness.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Kernel;

namespace KernelHarness.Tests.Reference.Locking;

public class SleepingLockTests
{
    [Fact]
    public void Mutex_unlock_hands_the_lock_to_the_first_waiter()
    {
        var mx = new mutex();
        bool lockedAfterUnlock = false;
        int trylockAfterUnlock = -1;
        string order = "";
        var done = new completion();
        var m = Sim.Run(() =>
        {
            mutex_lock(mx);
            kthread_run(_ => { mutex_lock(mx); order += "w1"; mutex_unlock(mx); complete(done); return 0; }, null, "w1");
            msleep(5);
            kthread_run(_ => { mutex_lock(mx); order += "w2"; mutex_unlock(mx); complete(done); return 0; }, null, "w2");
            msleep(5);
            mutex_unlock(mx);
            lockedAfterUnlock = mutex_is_locked(mx);
            trylockAfterUnlock = mutex_trylock(mx);
            wait_for_completion(done);
            wait_for_completion(done);
        });
        Assert.True(lockedAfterUnlock);      // handed off, not released
        Assert.Equal(0, trylockAfterUnlock); // the unlocker cannot steal it back
        Assert.Equal("w1w2", order);         // FIFO
        Sim.NoReports(m);
    }

    [Fact]
    public void Mutex_unlock_by_a_task_that_does_not_own_it_is_reported()
    {
        var mx = new mutex { Name = "mx" };
        var done = new completion();
        bool stillLocked = false;
        var m = Sim.Run(() =>
        {
            mutex_lock(mx);
            kthread_run(_ => { mutex_unlock(mx); complete(done); return 0; }, null, "thief");
            wait_for_completion(done);
            stillLocked = mutex_is_locked(mx);
            mutex_unlock(mx);
        });
        var r = Sim.Single(m, ReportKind.LockdepBadUnlock);
        Assert.Equal("thief", r.Comm);
        Assert.Contains(r.Details, d => d.Contains("is trying to release lock (mx)"));
        Assert.True(stillLocked);
    }

    [Fact]
    public void Mutex_trylock_takes_a_free_mutex_and_fails_on_a_held_one()
    {
        var mx = new mutex();
        int first = 0, second = 1;
        var m = Sim.Run(() =>
        {
            first = mutex_trylock(mx);
            var done = new completion();
            kthread_run(_ => { second = mutex_trylock(mx); complete(done); return 0; }, null, "t");
            wait_for_completion(done);
            mutex_unlock(mx);
        });
        Assert.Equal(1, first);
        Assert.Equal(0, second);
        Sim.NoReports(m);
    }

    [Fact]
    public void Mutex_lock_interruptible_returns_eintr_on_a_signal()
    {
        var mx = new mutex();
        int ret = 0;
        var done = new completion();
        var m = Sim.Run(() =>
        {
            mutex_lock(mx);
            var k = kthread_run(_ => { ret = mutex_lock_interruptible(mx); complete(done); return 0; }, null, "sig");
            msleep(5);
            send_sig(9, k, 0);
            wait_for_completion(done);
            mutex_unlock(mx);
        });
        Assert.Equal(-EINTR, ret);
        Sim.NoReports(m);
    }

    [Fact]
    public void A_semaphore_admits_count_holders_and_up_wakes_a_waiter()
    {
        var sem = new semaphore(2);
        int holders = 0, maxHolders = 0;
        var done = new completion();
        var m = Sim.Run(() =>
        {
            for (int k = 0; k < 4; k++)
            {
                kthread_run(_ =>
                {
                    down(sem);
                    holders++;
                    if (holders > maxHolders) maxHolders = holders;
                    msleep(10);
                    holders--;
                    up(sem);
                    complete(done);
                    return 0;
                }, null, $"s{k}");
            }
            for (int k = 0; k < 4; k++)
                wait_for_completion(done);
        });
        Assert.Equal(2, maxHolders);
        Sim.NoReports(m);
    }

    [Fact]
    public void Down_trylock_returns_one_when_no_unit_is_free()
    {
        var sem = new semaphore(1);
        int a = -1, b = -1;
        var m = Sim.Run(() =>
        {
            a = down_trylock(sem);
            b = down_trylock(sem);
            up(sem);
        });
        Assert.Equal(0, a);
        Assert.Equal(1, b);
        Sim.NoReports(m);
    }

    [Fact]
    public void Down_interruptible_returns_eintr_on_a_signal()
    {
        var sem = new semaphore(0);
        int ret = 0;
        var done = new completion();
        Sim.Run(() =>
        {
            var k = kthread_run(_ => { ret = down_interruptible(sem); complete(done); return 0; }, null, "d");
            msleep(5);
            send_sig(9, k, 0);
            wait_for_completion(done);
        });
        Assert.Equal(-EINTR, ret);
    }
}

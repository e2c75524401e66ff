using KernelHarness.Runtime;
using KernelHarness.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Kernel;

namespace KernelHarness.Tests.Reference.Locking;

/// <summary>
/// lockdep on rw_semaphores (and so on <c>mm->mmap_lock</c>): as in Linux, every down_read/down_write is
/// validated before it happens, a read hold does not nest, and trylocks add no ordering.
/// </summary>
public class RwSemaphoreLockdepTests
{
    [Fact]
    public void A_mutex_taken_under_a_read_hold_and_the_rwsem_under_the_mutex_is_a_circular_dependency()
    {
        var sem = new rw_semaphore { Name = "cfg_sem" };
        var mx = new mutex { Name = "dev_mutex" };
        int readerLine = 0, writerLine = 0;
        var m = Sim.Run(() =>
        {
            var first = new completion();
            kthread_run(_ =>
            {
                down_read(sem);
                mutex_lock(mx); readerLine = Sim.Here();
                mutex_unlock(mx);
                up_read(sem);
                complete(first);
                return 0;
            }, null, "reader");
            wait_for_completion(first);
            var second = new completion();
            kthread_run(_ =>
            {
                mutex_lock(mx);
                down_write(sem); writerLine = Sim.Here();
                up_write(sem);
                mutex_unlock(mx);
                complete(second);
                return 0;
            }, null, "writer");
            wait_for_completion(second);
        });
        var r = Sim.Single(m, ReportKind.LockdepCircularDependency);
        Assert.Equal("writer", r.Comm);
        Assert.Contains(r.Details, d => d.Contains($"(cfg_sem), at: {Sim.Site(writerLine)}"));
        Assert.Contains(r.Details, d => d.Contains($"(dev_mutex) taken while holding (cfg_sem), at: {Sim.Site(readerLine)}"));
        Sim.InLog(m, r);
    }

    [Fact]
    public void Mmap_lock_taken_under_a_mutex_in_one_path_and_around_it_in_another_is_reported()
    {
        var mx = new mutex { Name = "drv_mutex" };
        int writeLine = 0;
        var m = Sim.Run(() =>
        {
            var mm = new mm_struct();
            mmap_read_lock(mm);
            mutex_lock(mx);
            mutex_unlock(mx);
            mmap_read_unlock(mm);
            msleep(1);
            mutex_lock(mx);
            mmap_write_lock(mm); writeLine = Sim.Here();
            mmap_write_unlock(mm);
            mutex_unlock(mx);
        });
        var r = Sim.Single(m, ReportKind.LockdepCircularDependency);
        // The sites are the driver's calls of mmap_*_lock, not the address space's code behind them.
        Assert.Contains(r.Details, d => d.Contains($"(mmap_lock), at: {Sim.Site(writeLine)}"));
        Assert.Contains(r.Details, d => d.Contains($"(drv_mutex) taken while holding (mmap_lock)"));
        Assert.DoesNotContain(r.Details, d => d.Contains("ReferenceAddressSpace.cs"));
    }

    [Fact]
    public void Readers_and_a_writer_in_one_order_are_silent()
    {
        var sem = new rw_semaphore();
        var mx = new mutex();
        var m = Sim.Run(() =>
        {
            var done = new completion();
            for (int i = 0; i < 2; i++)
                kthread_run(_ => { down_read(sem); mutex_lock(mx); msleep(1); mutex_unlock(mx); up_read(sem); complete(done); return 0; }, null, "reader");
            kthread_run(_ => { down_write(sem); mutex_lock(mx); mutex_unlock(mx); up_write(sem); complete(done); return 0; }, null, "writer");
            for (int i = 0; i < 3; i++)
                wait_for_completion(done);
        });
        Sim.NoReports(m);
    }

    [Fact]
    public void A_read_hold_taken_again_by_its_holder_is_possible_recursive_locking()
    {
        // Linux's down_read is not a recursive read (lockdep read=1): had a writer queued between the two, the
        // second down_read would wait behind it, and the writer for the first.
        var sem = new rw_semaphore { Name = "sem" };
        var m = Sim.Run(() =>
        {
            down_read(sem);
            down_read(sem);
            up_read(sem);
            up_read(sem);
        });
        var r = Sim.Single(m, ReportKind.LockdepRecursiveLocking);
        Assert.Equal("WARNING: possible recursive locking detected", r.Title);
        Assert.Contains(r.Details, d => d.Contains("(sem){RwSemRead}"));
        Sim.InLog(m, r);
    }

    [Fact]
    public void Down_read_under_ones_own_write_hold_is_reported_and_deadlocks()
    {
        var sem = new rw_semaphore();
        var m = new Machine(new MachineConfig { Seed = 1 });
        var outcome = m.Run(() =>
        {
            down_write(sem);
            down_read(sem);
        });
        Assert.Equal(RunOutcome.Deadlocked, outcome);
        Sim.Single(m, ReportKind.LockdepRecursiveLocking);
    }

    [Fact]
    public void Two_readers_sharing_the_semaphore_are_not_recursion()
    {
        var sem = new rw_semaphore();
        var m = Sim.Run(() =>
        {
            var done = new completion();
            down_read(sem);
            kthread_run(_ => { down_read(sem); up_read(sem); complete(done); return 0; }, null, "other");
            wait_for_completion(done);
            up_read(sem);
        });
        Sim.NoReports(m);
    }

    [Fact]
    public void A_trylock_in_the_other_order_adds_no_dependency()
    {
        // A trylock cannot wait, so it cannot close a cycle (lockdep skips its dependencies).
        var sem = new rw_semaphore();
        var mx = new mutex();
        var m = Sim.Run(() =>
        {
            down_read(sem);
            mutex_lock(mx);
            mutex_unlock(mx);
            up_read(sem);
            mutex_lock(mx);
            if (down_write_trylock(sem) != 0)
                up_write(sem);
            if (down_read_trylock(sem) != 0)
                up_read(sem);
            mutex_unlock(mx);
        });
        Sim.NoReports(m);
    }

    [Fact]
    public void Up_read_without_a_read_hold_is_a_bad_unlock_balance()
    {
        var sem = new rw_semaphore { Name = "sem" };
        var m = Sim.Run(() => up_read(sem));
        var r = Sim.Single(m, ReportKind.LockdepBadUnlock);
        Assert.Equal("WARNING: bad unlock balance detected!", r.Title);
        Assert.Contains(r.Details, d => d.Contains("is trying to release lock (sem)"));
        Sim.InLog(m, r);
    }
}

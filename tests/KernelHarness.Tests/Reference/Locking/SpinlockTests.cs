using KernelHarness.Runtime;
using KernelHarness.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Kernel;

namespace KernelHarness.Tests.Reference.Locking;

public class SpinlockTests
{
    [Fact]
    public void Spin_lock_disables_preemption_while_held()
    {
        var l = new spinlock_t();
        int inside = 0, after = -1;
        bool locked = false, unlocked = true;
        var m = Sim.Run(() =>
        {
            spin_lock(l);
            inside = preempt_count();
            locked = spin_is_locked(l);
            spin_unlock(l);
            after = preempt_count();
            unlocked = spin_is_locked(l);
        });
        Assert.Equal(1, inside);
        Assert.Equal(0, after);
        Assert.True(locked);
        Assert.False(unlocked);
        Sim.NoReports(m);
    }

    [Fact]
    public void Spin_lock_irq_disables_interrupts_and_unlock_enables_them()
    {
        var l = new spinlock_t();
        bool inside = false, after = true;
        var m = Sim.Run(() =>
        {
            spin_lock_irq(l);
            inside = irqs_disabled();
            spin_unlock_irq(l);
            after = irqs_disabled();
        });
        Assert.True(inside);
        Assert.False(after);
        Sim.NoReports(m);
    }

    [Fact]
    public void Spin_trylock_fails_on_a_held_lock_and_leaves_the_count_alone()
    {
        var l = new spinlock_t();
        bool first = false, second = true;
        int pc = -1;
        var m = Sim.Run(() =>
        {
            var held = new completion();
            var release = new completion();
            kthread_run(_ =>
            {
                first = spin_trylock(l);
                complete(held);
                while (release.done == 0)
                    cpu_relax();
                spin_unlock(l);
                return 0;
            }, null, "holder");
            wait_for_completion(held);
            second = spin_trylock(l);
            pc = preempt_count();
            complete(release);
            msleep(5);
        });
        Assert.True(first);
        Assert.False(second);
        Assert.Equal(0, pc);
        Sim.NoReports(m);
    }

    [Fact]
    public void A_lock_declared_as_a_local_is_named_after_its_init_site()
    {
        var l = new spinlock_t(); int line = Sim.Here();
        Assert.Equal($"spinlock_t@{Sim.Site(line)}", l.Name);
    }

    private readonly mutex config_lock = new();

    [Fact]
    public void A_lock_held_in_a_field_is_named_after_the_field()
    {
        Assert.Equal("config_lock", config_lock.Name);
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(3UL)]
    public void Spinlocks_give_mutual_exclusion_between_cpus(ulong seed)
    {
        var l = new spinlock_t();
        int counter = 0, inside = 0, maxInside = 0;
        var done = new completion();
        var m = Sim.Run(() =>
        {
            for (int k = 0; k < 3; k++)
            {
                kthread_run(_ =>
                {
                    for (int i = 0; i < 40; i++)
                    {
                        spin_lock(l);
                        inside++;
                        if (inside > maxInside) maxInside = inside;
                        int tmp = counter;
                        udelay(1); // other CPUs run here
                        counter = tmp + 1;
                        inside--;
                        spin_unlock(l);
                    }
                    complete(done);
                    return 0;
                }, null, $"worker{k}");
            }
            for (int k = 0; k < 3; k++)
                wait_for_completion(done);
        }, new MachineConfig { Seed = seed });
        Assert.Equal(120, counter);
        Assert.Equal(1, maxInside);
        Sim.NoReports(m);
    }

    [Fact]
    public void Unlocking_a_spinlock_that_is_not_held_reports_bad_unlock_balance()
    {
        var l = new spinlock_t();
        var m = Sim.Run(() =>
        {
            preempt_disable();
            spin_unlock(l);
        });
        var r = Sim.Single(m, ReportKind.LockdepBadUnlock);
        Assert.Equal("WARNING: bad unlock balance detected!", r.Title);
        Sim.InLog(m, r);
    }

    [Fact]
    public void Rwlock_readers_share_and_a_writer_excludes_them()
    {
        var rw = new rwlock_t();
        int readersTogether = 0, maxReaders = 0, writerSawReaders = -1;
        var done = new completion();
        var m = Sim.Run(() =>
        {
            for (int k = 0; k < 3; k++)
            {
                kthread_run(_ =>
                {
                    for (int i = 0; i < 20; i++)
                    {
                        read_lock(rw);
                        readersTogether++;
                        if (readersTogether > maxReaders) maxReaders = readersTogether;
                        udelay(5);
                        readersTogether--;
                        read_unlock(rw);
                    }
                    complete(done);
                    return 0;
                }, null, $"reader{k}");
            }
            kthread_run(_ =>
            {
                for (int i = 0; i < 20; i++)
                {
                    write_lock_irqsave(rw, out var flags);
                    writerSawReaders = System.Math.Max(writerSawReaders, readersTogether);
                    udelay(2);
                    write_unlock_irqrestore(rw, flags);
                }
                complete(done);
                return 0;
            }, null, "writer");
            for (int k = 0; k < 4; k++)
                wait_for_completion(done);
        }, new MachineConfig { Seed = 5 });
        Assert.Equal(0, writerSawReaders);
        Assert.True(maxReaders >= 2, $"readers never overlapped (max {maxReaders})");
        Sim.NoReports(m);
    }
}

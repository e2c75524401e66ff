using System.Collections.Generic;
using System.Linq;
using KernelHarness.Runtime;
using Xunit;
using static KernelHarness.Kernel;

namespace KernelHarness.Tests.Runtime.Scheduling;

public class DeterminismTests
{
    // A workload with every kind of interleaving point: spinlocks, mutexes, sleeps, wait queues, timers.
    private static (IReadOnlyList<string> Trace, string Dmesg, int Counter) RunWorkload(ulong seed)
    {
        var spin = new spinlock_t();
        var mx = new mutex();
        var wq = new wait_queue_head_t();
        var timer = new timer_list();
        var done = new completion();
        int counter = 0, ticks = 0;
        var log = new List<string>();
        var m = new Machine(new MachineConfig { Seed = seed, Cpus = 4, Trace = true });
        m.Run(() =>
        {
            timer_setup(timer, t => { ticks++; if (ticks < 5) mod_timer(t, jiffies + 2); }, 0);
            mod_timer(timer, jiffies + 2);
            for (int k = 0; k < 4; k++)
            {
                int id = k;
                kthread_run(_ =>
                {
                    for (int i = 0; i < 15; i++)
                    {
                        spin_lock(spin);
                        counter++;
                        log.Add($"{id}:{i}@{smp_processor_id()}");
                        spin_unlock(spin);
                        if (i % 5 == id % 5)
                        {
                            mutex_lock(mx);
                            msleep(1);
                            mutex_unlock(mx);
                        }
                        wake_up(wq);
                    }
                    complete(done);
                    return 0;
                }, null, $"w{k}");
            }
            wait_event(wq, () => counter >= 30);
            pr_info($"half way at {counter}");
            for (int k = 0; k < 4; k++)
                wait_for_completion(done);
            del_timer_sync(timer);
        });
        Assert.Empty(m.Reports);
        return (m.Trace.ToList(), m.Log.Dump() + string.Join(",", log), counter);
    }

    [Fact]
    public void The_same_seed_gives_the_identical_event_trace()
    {
        var a = RunWorkload(1234);
        var b = RunWorkload(1234);
        Assert.True(a.Trace.Count > 50, $"trace too short: {a.Trace.Count}");
        Assert.Equal(a.Trace, b.Trace);
        Assert.Equal(a.Dmesg, b.Dmesg);
        Assert.Equal(60, a.Counter);
    }

    [Fact]
    public void A_different_seed_gives_a_different_interleaving()
    {
        var a = RunWorkload(1234);
        var b = RunWorkload(98765);
        Assert.NotEqual(a.Trace, b.Trace);
        Assert.NotEqual(a.Dmesg, b.Dmesg);
        Assert.Equal(60, b.Counter);
    }

    [Fact]
    public void The_trace_records_boot_spawns_switches_and_halt()
    {
        var (trace, _, _) = RunWorkload(7);
        Assert.Contains(trace, e => e.EndsWith(":boot"));
        Assert.Contains(trace, e => e.Contains("spawn w0/"));
        Assert.Contains(trace, e => e.Contains(":cpu "));
        Assert.Contains(trace, e => e.Contains(":sleep "));
        Assert.Contains(trace, e => e.Contains(":wake "));
        Assert.EndsWith("halt Completed", trace[^1]);
    }

    [Fact]
    public void Without_trace_enabled_nothing_is_recorded()
    {
        var m = new Machine(new MachineConfig { Seed = 1 });
        m.Run(() => msleep(1));
        Assert.Empty(m.Trace);
    }
}

using System.Collections.Generic;
using System.Linq;
using KernelHarness.Runtime;
using KernelHarness.Tests.Infrastructure;
using Xunit;
using static KernelHarness.Kernel;

namespace KernelHarness.Tests.Runtime.Scheduling;

public class TasksAndTimeTests
{
    [Fact]
    public void The_body_runs_as_the_init_task_named_insmod_with_pid_1()
    {
        task_struct? me = null;
        var m = Sim.Run(() => me = current);
        Assert.NotNull(me);
        Assert.Equal(1, me!.pid);
        Assert.Equal("insmod", me.comm);
        Assert.Equal(RunOutcome.Completed, m.Outcome);
    }

    [Fact]
    public void Kthread_run_starts_a_kernel_thread_whose_current_is_itself()
    {
        task_struct? parent = null, returned = null, seen = null;
        uint flags = 0;
        var done = new completion();
        var m = Sim.Run(() =>
        {
            parent = current;
            returned = kthread_run(data => { seen = current; flags = current.flags; Assert.Equal("hello", data); complete(done); return 0; }, "hello", "mythread");
            wait_for_completion(done);
        });
        Assert.Same(returned, seen);
        Assert.Equal("mythread", seen!.comm);
        Assert.NotEqual(parent!.pid, seen.pid);
        Assert.Same(parent, seen.parent);
        Assert.NotEqual(0u, flags & PF_KTHREAD);
        Assert.Null(seen.mm);
        Sim.NoReports(m);
    }

    [Fact]
    public void Kthread_names_are_truncated_to_task_comm_len()
    {
        task_struct? k = null;
        Sim.Run(() => k = kthread_run(_ => 0, null, "a-very-long-thread-name"));
        Assert.Equal("a-very-long-thr", k!.comm);
    }

    [Fact]
    public void Kthread_stop_makes_should_stop_true_and_returns_the_exit_code()
    {
        int ret = 0, loops = 0;
        var m = Sim.Run(() =>
        {
            var k = kthread_run(_ =>
            {
                while (!kthread_should_stop())
                {
                    loops++;
                    msleep(1);
                }
                return 42;
            }, null, "loop");
            msleep(30);
            ret = kthread_stop(k);
        });
        Assert.Equal(42, ret);
        Assert.True(loops > 0);
        Sim.NoReports(m);
    }

    [Fact]
    public void Jiffies_start_at_initial_jiffies_five_minutes_before_the_32_bit_wrap()
    {
        ulong start = 0;
        Sim.Run(() => start = jiffies);
        Assert.Equal(unchecked((ulong)(uint)(-300 * (int)HZ)), start);
        Assert.Equal(0xFFFF_8AD0UL, start);
        Assert.Equal(100UL, HZ);
    }

    [Fact]
    public void Msleep_lets_at_least_the_requested_time_pass_on_the_simulated_clock()
    {
        ulong before = 0, after = 0;
        var m = Sim.Run(() =>
        {
            before = jiffies;
            msleep(100);
            after = jiffies;
        });
        Assert.True(after - before >= msecs_to_jiffies(100), $"slept {after - before} jiffies");
        Assert.True(after - before <= msecs_to_jiffies(100) + 2, $"slept {after - before} jiffies");
        Assert.True(time_after(after, before));
        Sim.NoReports(m);
    }

    [Fact]
    public void Jiffies_advance_with_kernel_api_calls_even_without_sleeping()
    {
        ulong before = 0, after = 0;
        var m = Sim.Run(() =>
        {
            before = jiffies;
            for (int i = 0; i < 1000; i++)
                cpu_relax();
            after = jiffies;
        }, new MachineConfig { Cpus = 1 });
        Assert.True(after > before);
    }

    [Fact]
    public void Schedule_timeout_returns_zero_when_the_timeout_passes()
    {
        long left = -1;
        ulong before = 0, after = 0;
        Sim.Run(() =>
        {
            before = jiffies;
            set_current_state(TASK_INTERRUPTIBLE);
            left = schedule_timeout(7);
            after = jiffies;
        });
        Assert.Equal(0, left);
        Assert.True(after - before >= 7);
    }

    [Fact]
    public void Schedule_timeout_returns_the_jiffies_left_when_woken_early()
    {
        long left = -1;
        var m = Sim.Run(() =>
        {
            var me = current;
            kthread_run(_ => { msleep(20); wake_up_process(me); return 0; }, null, "waker");
            set_current_state(TASK_INTERRUPTIBLE);
            left = schedule_timeout(10 * (long)HZ);
        });
        Assert.InRange(left, 1, 10 * (long)HZ - 2);
        Sim.NoReports(m);
    }

    [Fact]
    public void Schedule_in_task_interruptible_sleeps_until_wake_up_process()
    {
        var order = new List<string>();
        var m = Sim.Run(() =>
        {
            var me = current;
            kthread_run(_ => { msleep(5); order.Add("wake"); wake_up_process(me); return 0; }, null, "waker");
            set_current_state(TASK_INTERRUPTIBLE);
            order.Add("sleep");
            schedule();
            order.Add("woken");
        });
        Assert.Equal(new[] { "sleep", "wake", "woken" }, order);
        Sim.NoReports(m);
    }

    [Fact]
    public void Schedule_while_running_only_yields()
    {
        int ran = 0;
        var m = Sim.Run(() =>
        {
            var done = new completion();
            kthread_run(_ => { ran++; complete(done); return 0; }, null, "other");
            schedule(); // TASK_RUNNING: back on the run queue
            wait_for_completion(done);
        }, new MachineConfig { Cpus = 1 });
        Assert.Equal(1, ran);
        Sim.NoReports(m);
    }

    [Fact]
    public void Wake_up_process_on_a_running_task_returns_false()
    {
        bool r = true;
        Sim.Run(() => r = wake_up_process(current));
        Assert.False(r);
    }

    [Fact]
    public void Kthreads_run_on_several_cpus()
    {
        var cpus = new HashSet<int>();
        var done = new completion();
        var m = Sim.Run(() =>
        {
            for (int k = 0; k < 4; k++)
            {
                kthread_run(_ =>
                {
                    for (int i = 0; i < 50; i++)
                    {
                        cpus.Add(current.cpu);
                        udelay(10);
                    }
                    complete(done);
                    return 0;
                }, null, $"w{k}");
            }
            for (int k = 0; k < 4; k++)
                wait_for_completion(done);
        });
        Assert.True(cpus.Count >= 2, $"only CPUs {string.Join(",", cpus)} ran");
        Assert.All(cpus, c => Assert.InRange(c, 0, 3));
    }
}

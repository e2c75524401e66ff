using System;
using KernelHarness.Runtime;
using KernelHarness.Subsystems;
using static KernelHarness.Kernel;

namespace KernelHarness.Reference.Sched;

/// <summary>
/// The reference scheduler API (kernel/sched/core.c, kernel/time/, kernel/kthread.c) over the
/// machine's seeded scheduler: sleeping, waking, kernel threads, jiffies.
/// </summary>
public sealed class ReferenceScheduler : IScheduler
{
    private static Machine M => Machine.Current;

    public task_struct current => M.CurrentTask;

    public ulong jiffies => M.Jiffies;

    public void schedule() => M.Schedule("schedule");

    public long schedule_timeout(long timeout) => M.ScheduleTimeout(timeout, "schedule_timeout");

    public int cond_resched()
    {
        var m = M;
        if (!m.HasRunnableTasks || m.CurrentCpu.PreemptCount != 0)
            return 0;
        m.CurrentTask.__state = TASK_RUNNING;
        m.Schedule("cond_resched");
        return 1;
    }

    public void msleep(uint msecs)
    {
        var m = M;
        long timeout = (long)msecs_to_jiffies(msecs) + 1;
        while (timeout > 0)
        {
            m.CurrentTask.__state = TASK_UNINTERRUPTIBLE;
            timeout = m.ScheduleTimeout(timeout, "msleep");
        }
    }

    public uint msleep_interruptible(uint msecs)
    {
        var m = M;
        long timeout = (long)msecs_to_jiffies(msecs) + 1;
        while (timeout > 0 && !m.CurrentSim.SignalPending)
        {
            m.CurrentTask.__state = TASK_INTERRUPTIBLE;
            timeout = m.ScheduleTimeout(timeout, "msleep_interruptible");
        }
        return jiffies_to_msecs((ulong)Math.Max(timeout, 0));
    }

    public void ssleep(uint seconds) => msleep(seconds * 1000);

    public void usleep_range(ulong min, ulong max)
    {
        var m = M;
        long timeout = Math.Max(1, (long)usecs_to_jiffies((uint)Math.Min(min, uint.MaxValue)));
        while (timeout > 0)
        {
            m.CurrentTask.__state = TASK_UNINTERRUPTIBLE;
            timeout = m.ScheduleTimeout(timeout, "usleep_range");
        }
    }

    // Busy waits: the CPU spins, so simulated time passes and other CPUs run, but nothing sleeps.

    public void udelay(ulong usecs) => BusyWait(usecs * 1000);

    public void ndelay(ulong nsecs) => BusyWait(nsecs);

    public void mdelay(ulong msecs) => BusyWait(msecs * 1_000_000);

    private static void BusyWait(ulong nsecs)
    {
        var m = M;
        ulong nsPerJiffy = 1_000_000_000 / HZ;
        ulong steps = Math.Max(1, nsecs * (ulong)m.Config.CallsPerTick / nsPerJiffy);
        for (ulong i = 0; i < steps; i++)
            m.Relax();
    }

    public void cpu_relax() => M.Relax();

    public void might_sleep()
    {
        // The facade has already checked the context ([MightSleep]); nothing else to do.
    }

    public void set_current_state(uint state) => M.CurrentTask.__state = state;

    public void __set_current_state(uint state) => M.CurrentTask.__state = state;

    public bool signal_pending(task_struct p) => p.sim.SignalPending;

    public bool wake_up_process(task_struct p) => M.Wake(p.sim);

    public task_struct kthread_run(Func<object?, int> threadfn, object? data, string name)
    {
        ArgumentNullException.ThrowIfNull(threadfn);
        var t = M.SpawnTask(name, () => threadfn(data), kernelThread: true);
        return t.Task;
    }

    public int kthread_stop(task_struct k)
    {
        var m = M;
        var target = k.sim;
        target.ShouldStop = true;
        m.Wake(target);
        var self = m.CurrentSim;
        var entry = new wait_queue_entry { task = self.Task };
        while (target.IsAlive)
        {
            if (!target.ExitWaiters.entries.Contains(entry))
                target.ExitWaiters.entries.Add(entry);
            self.Task.__state = TASK_UNINTERRUPTIBLE;
            m.Schedule("kthread_stop");
        }
        target.ExitWaiters.entries.Remove(entry);
        return target.ExitCode;
    }

    public bool kthread_should_stop() => M.CurrentSim.ShouldStop;

    public int send_sig(int sig, task_struct p, int priv)
    {
        p.sim.SignalPending = true;
        M.Wake(p.sim, TASK_INTERRUPTIBLE);
        return 0;
    }
}

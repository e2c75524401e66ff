using System;
using System.Collections.Generic;
using KernelHarness.Runtime;
using KernelHarness.Subsystems;
using static KernelHarness.Kernel;

namespace KernelHarness.Reference.Deferred;

/// <summary>
/// Tasklets and timers (run in softirq context by the machine) and workqueues (run in process
/// context by one worker kernel thread per workqueue): kernel/softirq.c, kernel/time/timer.c,
/// kernel/workqueue.c.
/// </summary>
public sealed class ReferenceDeferredWork : IDeferredWork
{
    private workqueue_struct? systemWq;

    private static Machine M => Machine.Current;

    // ---- Tasklets ----

    public void tasklet_setup(tasklet_struct t, Action<tasklet_struct> callback)
    {
        t.callback = callback;
        t.scheduled = false;
        t.running = false;
        t.count = 0;
        t.killed = false;
    }

    public void tasklet_schedule(tasklet_struct t)
    {
        if (!t.killed)
            M.QueueTasklet(t, hi: false);
    }

    public void tasklet_hi_schedule(tasklet_struct t)
    {
        if (!t.killed)
            M.QueueTasklet(t, hi: true);
    }

    public void tasklet_kill(tasklet_struct t)
    {
        var m = M;
        // Wait for a scheduled run to happen and for a running one to finish (tasklet_unlock_wait).
        while (t.scheduled || t.running)
        {
            m.CurrentTask.__state = TASK_UNINTERRUPTIBLE;
            m.ScheduleTimeout(1, "tasklet_kill");
        }
        t.killed = true;
    }

    public void tasklet_disable(tasklet_struct t)
    {
        t.count++;
        var m = M;
        while (t.running)
            m.Relax();
    }

    public void tasklet_enable(tasklet_struct t)
    {
        if (t.count == 0)
        {
            M.Warn("tasklet_enable() without tasklet_disable()", "tasklet_enable");
            return;
        }
        t.count--;
    }

    // ---- Timers ----

    public void timer_setup(timer_list timer, Action<timer_list> function, uint flags)
    {
        timer.function = function;
        timer.flags = flags;
        timer.pending = false;
    }

    public int mod_timer(timer_list timer, ulong expires)
    {
        var m = M;
        return m.Timers.Arm(timer, expires, m.CurrentSim.Cpu) ? 1 : 0;
    }

    public void add_timer(timer_list timer)
    {
        var m = M;
        if (timer.pending)
            m.Warn("add_timer() of a pending timer (BUG_ON(timer_pending(timer)))", "add_timer");
        m.Timers.Arm(timer, timer.expires, m.CurrentSim.Cpu);
    }

    public int del_timer(timer_list timer) => M.Timers.Disarm(timer) ? 1 : 0;

    public int del_timer_sync(timer_list timer)
    {
        var m = M;
        if ((m.CurrentCpu.PreemptCount & HARDIRQ_MASK) != 0 && (timer.flags & TIMER_IRQSAFE) == 0)
            m.Warn("del_timer_sync() from hard-IRQ context", "timer_delete_sync");
        int ret = m.Timers.Disarm(timer) ? 1 : 0;
        int spins = 0;
        while (timer.running)
        {
            if (++spins > m.Config.SpinLockupThreshold)
            {
                m.Warn("del_timer_sync() waits for the timer function it is called from", "timer_delete_sync");
                break;
            }
            m.Relax();
        }
        return ret;
    }

    public bool timer_pending(timer_list timer) => timer.pending;

    // ---- Workqueues ----

    public void INIT_WORK(work_struct work, Action<work_struct> func)
    {
        work.func = func;
        work.pending = false;
        work.running = false;
    }

    public workqueue_struct system_wq => systemWq ??= new workqueue_struct("events", 0, 256);

    public bool schedule_work(work_struct work) => queue_work(system_wq, work);

    public bool queue_work(workqueue_struct wq, work_struct work)
    {
        if (wq.destroyed)
        {
            M.Warn($"queue_work() on destroyed workqueue {wq.name}", "__queue_work");
            return false;
        }
        if (work.pending)
            return false;
        work.pending = true;
        work.wq = wq;
        wq.queue.Enqueue(work);
        var m = M;
        wq.worker ??= m.SpawnTask($"kworker/{wq.name}", () => WorkerThread(wq), kernelThread: true).Task;
        m.Wake(wq.worker.sim);
        return true;
    }

    // worker_thread (kernel/workqueue.c): run queued work items one at a time, sleep when idle.
    private static int WorkerThread(workqueue_struct wq)
    {
        var m = Machine.Current;
        var self = m.CurrentSim;
        while (true)
        {
            if (wq.queue.Count == 0)
            {
                if (self.ShouldStop)
                    return 0;
                self.Task.__state = TASK_INTERRUPTIBLE;
                m.Schedule("worker_thread");
                continue;
            }
            var work = wq.queue.Dequeue();
            work.pending = false;
            work.running = true;
            wq.active++;
            m.RunWork(work);
            wq.active--;
            work.running = false;
            work.generation++;
        }
    }

    public bool flush_work(work_struct work)
    {
        bool waited = false;
        var m = M;
        while (work.pending || work.running)
        {
            waited = true;
            m.CurrentTask.__state = TASK_UNINTERRUPTIBLE;
            m.ScheduleTimeout(1, "flush_work");
        }
        return waited;
    }

    public bool cancel_work_sync(work_struct work)
    {
        bool wasPending = work.pending;
        if (work.pending && work.wq is not null)
        {
            var remaining = new Queue<work_struct>();
            foreach (var w in work.wq.queue)
            {
                if (!ReferenceEquals(w, work))
                    remaining.Enqueue(w);
            }
            work.wq.queue.Clear();
            foreach (var w in remaining)
                work.wq.queue.Enqueue(w);
            work.pending = false;
        }
        flush_work(work);
        return wasPending;
    }

    public workqueue_struct? alloc_workqueue(string name, uint flags, int max_active) =>
        new workqueue_struct(name, flags, max_active <= 0 ? 256 : max_active);

    public void destroy_workqueue(workqueue_struct wq)
    {
        flush_workqueue(wq);
        wq.destroyed = true;
        if (wq.worker is not null)
            kthread_stop(wq.worker);
    }

    public void flush_workqueue(workqueue_struct wq)
    {
        var m = M;
        while (wq.queue.Count > 0 || wq.active > 0)
        {
            m.CurrentTask.__state = TASK_UNINTERRUPTIBLE;
            m.ScheduleTimeout(1, "flush_workqueue");
        }
    }
}

using System;
using KernelHarness.Runtime;
using KernelHarness.Subsystems;
using static KernelHarness.Kernel;

namespace KernelHarness.Reference.Sched;

/// <summary>Wait queues and completions (kernel/sched/wait.c, kernel/sched/completion.c).</summary>
public sealed class ReferenceWait : IWait
{
    private static Machine M => Machine.Current;

    public void init_waitqueue_head(wait_queue_head_t wq_head) => wq_head.entries.Clear();

    public void wait_event(wait_queue_head_t wq_head, Func<bool> condition) =>
        WaitEvent(wq_head, condition, TASK_UNINTERRUPTIBLE, MAX_SCHEDULE_TIMEOUT, "wait_event");

    public int wait_event_interruptible(wait_queue_head_t wq_head, Func<bool> condition) =>
        (int)WaitEvent(wq_head, condition, TASK_INTERRUPTIBLE, MAX_SCHEDULE_TIMEOUT, "wait_event_interruptible");

    public long wait_event_timeout(wait_queue_head_t wq_head, Func<bool> condition, long timeout) =>
        WaitEvent(wq_head, condition, TASK_UNINTERRUPTIBLE, timeout, "wait_event_timeout");

    public long wait_event_interruptible_timeout(wait_queue_head_t wq_head, Func<bool> condition, long timeout) =>
        WaitEvent(wq_head, condition, TASK_INTERRUPTIBLE, timeout, "wait_event_interruptible_timeout");

    // ___wait_event (include/linux/wait.h): queue, set the state, re-test the condition, sleep; repeat.
    private long WaitEvent(wait_queue_head_t wq, Func<bool> condition, uint state, long timeout, string name)
    {
        bool timed = timeout != MAX_SCHEDULE_TIMEOUT;
        if (condition())
            return timed ? Math.Max(timeout, 1) : 0;
        var m = M;
        var self = m.CurrentSim;
        var entry = new wait_queue_entry { task = self.Task };
        long left = timeout;
        try
        {
            while (true)
            {
                prepare_to_wait(wq, entry, state);
                if (condition())
                    return timed ? Math.Max(left, 1) : 0;
                if ((state & TASK_INTERRUPTIBLE) != 0 && self.SignalPending)
                    return -ERESTARTSYS;
                if (timed)
                {
                    left = m.ScheduleTimeout(left, name);
                    if (left <= 0)
                        return condition() ? 1 : 0;
                }
                else
                {
                    m.Schedule(name);
                }
            }
        }
        finally
        {
            finish_wait(wq, entry);
        }
    }

    public void prepare_to_wait(wait_queue_head_t wq_head, wait_queue_entry wq_entry, uint state)
    {
        wq_entry.task ??= M.CurrentTask;
        wq_entry.exclusive = false;
        Queue(wq_head, wq_entry);
        M.CurrentTask.__state = state;
    }

    public void prepare_to_wait_exclusive(wait_queue_head_t wq_head, wait_queue_entry wq_entry, uint state)
    {
        wq_entry.task ??= M.CurrentTask;
        wq_entry.exclusive = true;
        Queue(wq_head, wq_entry);
        M.CurrentTask.__state = state;
    }

    private static void Queue(wait_queue_head_t wq, wait_queue_entry e)
    {
        if (e.queued_on is null)
        {
            wq.entries.Add(e);
            e.queued_on = wq;
        }
    }

    public void finish_wait(wait_queue_head_t wq_head, wait_queue_entry wq_entry)
    {
        M.CurrentTask.__state = TASK_RUNNING;
        if (wq_entry.queued_on is not null)
        {
            wq_entry.queued_on.entries.Remove(wq_entry);
            wq_entry.queued_on = null;
        }
    }

    public void wake_up(wait_queue_head_t wq_head) => WakeUp(wq_head, TASK_NORMAL, exclusiveBudget: 1);

    public void wake_up_interruptible(wait_queue_head_t wq_head) => WakeUp(wq_head, TASK_INTERRUPTIBLE, exclusiveBudget: 1);

    public void wake_up_all(wait_queue_head_t wq_head) => WakeUp(wq_head, TASK_NORMAL, exclusiveBudget: int.MaxValue);

    // __wake_up_common: wake every non-exclusive waiter and up to N exclusive ones; woken entries are
    // removed from the queue (autoremove_wake_function).
    private static void WakeUp(wait_queue_head_t wq, uint mode, int exclusiveBudget)
    {
        var m = M;
        foreach (var e in wq.entries.ToArray())
        {
            if (e.task is null)
                continue;
            if (m.Wake(e.task.sim, mode))
            {
                wq.entries.Remove(e);
                e.queued_on = null;
                if (e.exclusive && --exclusiveBudget == 0)
                    break;
            }
        }
    }

    public void init_completion(completion x)
    {
        x.done = 0;
        x.wait.entries.Clear();
    }

    public void reinit_completion(completion x) => x.done = 0;

    public void wait_for_completion(completion x) => WaitForCompletion(x, MAX_SCHEDULE_TIMEOUT);

    public ulong wait_for_completion_timeout(completion x, ulong timeout) =>
        (ulong)Math.Max(0, WaitForCompletion(x, (long)Math.Min(timeout, long.MaxValue - 1)));

    private long WaitForCompletion(completion x, long timeout)
    {
        var m = M;
        var self = m.CurrentSim;
        var entry = new wait_queue_entry { task = self.Task, exclusive = true };
        long left = timeout;
        while (x.done == 0)
        {
            Queue(x.wait, entry);
            entry.exclusive = true;
            self.Task.__state = TASK_UNINTERRUPTIBLE;
            if (timeout == MAX_SCHEDULE_TIMEOUT)
            {
                m.Schedule("wait_for_completion");
            }
            else
            {
                left = m.ScheduleTimeout(left, "wait_for_completion_timeout");
                if (left <= 0 && x.done == 0)
                {
                    finish_wait(x.wait, entry);
                    return 0;
                }
            }
        }
        finish_wait(x.wait, entry);
        if (x.done != uint.MaxValue)
            x.done--;
        return timeout == MAX_SCHEDULE_TIMEOUT ? 0 : Math.Max(left, 1);
    }

    public void complete(completion x)
    {
        if (x.done != uint.MaxValue)
            x.done++;
        WakeUp(x.wait, TASK_NORMAL, exclusiveBudget: 1);
    }

    public void complete_all(completion x)
    {
        x.done = uint.MaxValue;
        WakeUp(x.wait, TASK_NORMAL, exclusiveBudget: int.MaxValue);
    }
}

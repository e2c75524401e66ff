using System;
using KernelHarness.Annotations;

namespace KernelHarness.Api;

/// <summary>
/// Tasks, scheduling, sleeping and time (kernel-api.md §4): the seeded simulated scheduler, kernel
/// threads, <c>jiffies</c>.
/// </summary>
[KernelSubsystem("sched", "IScheduler", BootOrder = 7, Reference = typeof(Reference.Sched.ReferenceScheduler), Linux = "kernel/sched/core.c")]
internal interface SchedDescription
{
    /// <summary>The running task; in interrupt context merely the interrupted one.</summary>
    [Linux("arch/x86/include/asm/current.h"), KernelRole(KernelRole.CurrentTask)]
    task_struct current { get; }

    /// <summary>Ticks since boot (wraps: compare with <c>time_after</c>).</summary>
    [Linux("kernel/time/jiffies.c"), KernelRole(KernelRole.Jiffies)]
    ulong jiffies { get; }

    /// <summary>Gives up the CPU; the task sleeps unless its state is <c>TASK_RUNNING</c>.</summary>
    [Linux("kernel/sched/core.c"), MightSleep, KernelRole(KernelRole.Schedule)]
    void schedule();

    /// <summary>Sleeps until <paramref name="timeout"/> jiffies pass or the task is woken; returns the jiffies left.</summary>
    [Linux("kernel/time/sleep_timeout.c"), MightSleep, KernelRole(KernelRole.Schedule)]
    long schedule_timeout(long timeout);

    /// <summary>A voluntary preemption point.</summary>
    [Linux("kernel/sched/core.c"), MightSleep]
    int cond_resched();

    /// <summary>Sleeps for at least <paramref name="msecs"/> milliseconds.</summary>
    [Linux("kernel/time/sleep_timeout.c"), MightSleep]
    void msleep(uint msecs);

    /// <summary>Sleeps interruptibly; returns the milliseconds left when woken early.</summary>
    [Linux("kernel/time/sleep_timeout.c"), MightSleep]
    uint msleep_interruptible(uint msecs);

    /// <summary>Sleeps for <paramref name="seconds"/> seconds.</summary>
    [Linux("include/linux/delay.h"), MightSleep]
    void ssleep(uint seconds);

    /// <summary>Sleeps between <paramref name="min"/> and <paramref name="max"/> microseconds.</summary>
    [Linux("kernel/time/sleep_timeout.c"), MightSleep]
    void usleep_range(ulong min, ulong max);

    /// <summary>Busy-waits <paramref name="usecs"/> microseconds (allowed in atomic context).</summary>
    [Linux("include/asm-generic/delay.h"), KernelRole(KernelRole.BusyWait)]
    void udelay(ulong usecs);

    /// <summary>Busy-waits <paramref name="nsecs"/> nanoseconds (allowed in atomic context).</summary>
    [Linux("include/asm-generic/delay.h"), KernelRole(KernelRole.BusyWait)]
    void ndelay(ulong nsecs);

    /// <summary>Busy-waits <paramref name="msecs"/> milliseconds (allowed in atomic context).</summary>
    [Linux("include/linux/delay.h"), KernelRole(KernelRole.BusyWait)]
    void mdelay(ulong msecs);

    /// <summary>A pause in a busy loop: lets other simulated CPUs and interrupts run.</summary>
    [Linux("arch/x86/include/asm/vdso/processor.h"), KernelRole(KernelRole.BusyWait)]
    void cpu_relax();

    /// <summary>Reports a bug if called in atomic context ("BUG: sleeping function called from invalid context").</summary>
    [Linux("kernel/sched/core.c", Function = "__might_sleep"), MightSleep]
    void might_sleep();

    /// <summary>Sets the current task's state (before <c>schedule()</c>).</summary>
    [Linux("include/linux/sched.h")]
    void set_current_state(uint state);

    /// <summary>Sets the current task's state (<c>__set_current_state</c>, no barrier).</summary>
    [Linux("include/linux/sched.h")]
    void __set_current_state(uint state);

    /// <summary>True when a signal is pending for the task.</summary>
    [Linux("include/linux/sched/signal.h")]
    bool signal_pending(task_struct p);

    /// <summary>Wakes a sleeping task; true when it was sleeping.</summary>
    [Linux("kernel/sched/core.c")]
    bool wake_up_process(task_struct p);

    /// <summary>Creates and starts a kernel thread running <paramref name="threadfn"/>(<paramref name="data"/>) in process context.</summary>
    [Linux("include/linux/kthread.h"), MightSleep, Callback("threadfn", KernelContext.Process)]
    task_struct kthread_run(Func<object?, int> threadfn, object? data, string name);

    /// <summary>Asks a kernel thread to stop and waits for it to exit; returns its result.</summary>
    [Linux("kernel/kthread.c"), MightSleep]
    int kthread_stop(task_struct k);

    /// <summary>True once <c>kthread_stop</c> has been called on the current thread.</summary>
    [Linux("kernel/kthread.c")]
    bool kthread_should_stop();

    /// <summary>Sends a signal to a task (for tests of interruptible sleeps).</summary>
    [Linux("kernel/signal.c")]
    int send_sig(int sig, task_struct p, int priv);
}

/// <summary>Wait queues and completions (kernel-api.md §4).</summary>
[KernelSubsystem("wait", "IWait", BootOrder = 8, Reference = typeof(Reference.Sched.ReferenceWait), Linux = "kernel/sched/wait.c")]
internal interface WaitDescription
{
    /// <summary>Resets a wait queue head.</summary>
    [Linux("include/linux/wait.h")]
    void init_waitqueue_head(wait_queue_head_t wq_head);

    /// <summary>Sleeps (uninterruptibly) until <paramref name="condition"/> is true, re-checking it after every wake-up.</summary>
    [Linux("include/linux/wait.h"), MightSleep, KernelRole(KernelRole.WaitEvent)]
    void wait_event(wait_queue_head_t wq_head, Func<bool> condition);

    /// <summary>Sleeps until <paramref name="condition"/> is true or a signal arrives; 0 or <c>-ERESTARTSYS</c>.</summary>
    [Linux("include/linux/wait.h"), MightSleep, KernelRole(KernelRole.WaitEvent), ReturnsErrno]
    int wait_event_interruptible(wait_queue_head_t wq_head, Func<bool> condition);

    /// <summary>Sleeps until <paramref name="condition"/> is true or <paramref name="timeout"/> jiffies pass; the jiffies left (at least 1) or 0 on timeout.</summary>
    [Linux("include/linux/wait.h"), MightSleep, KernelRole(KernelRole.WaitEvent)]
    long wait_event_timeout(wait_queue_head_t wq_head, Func<bool> condition, long timeout);

    /// <summary>Interruptible <c>wait_event_timeout</c>: jiffies left, 0 on timeout, <c>-ERESTARTSYS</c> on a signal.</summary>
    [Linux("include/linux/wait.h"), MightSleep, KernelRole(KernelRole.WaitEvent)]
    long wait_event_interruptible_timeout(wait_queue_head_t wq_head, Func<bool> condition, long timeout);

    /// <summary>Queues <paramref name="wq_entry"/> and sets the task state (the first half of an open-coded wait).</summary>
    [Linux("kernel/sched/wait.c"), KernelRole(KernelRole.PrepareToWait), PairsWith("finish_wait")]
    void prepare_to_wait(wait_queue_head_t wq_head, wait_queue_entry wq_entry, uint state);

    /// <summary>As <c>prepare_to_wait</c>, queued as an exclusive waiter.</summary>
    [Linux("kernel/sched/wait.c"), KernelRole(KernelRole.PrepareToWait), PairsWith("finish_wait")]
    void prepare_to_wait_exclusive(wait_queue_head_t wq_head, wait_queue_entry wq_entry, uint state);

    /// <summary>Sets the task running and dequeues the entry (the end of an open-coded wait).</summary>
    [Linux("kernel/sched/wait.c"), KernelRole(KernelRole.FinishWait)]
    void finish_wait(wait_queue_head_t wq_head, wait_queue_entry wq_entry);

    /// <summary>Wakes the non-exclusive waiters and one exclusive waiter.</summary>
    [Linux("include/linux/wait.h")]
    void wake_up(wait_queue_head_t wq_head);

    /// <summary>Wakes interruptible waiters only.</summary>
    [Linux("include/linux/wait.h")]
    void wake_up_interruptible(wait_queue_head_t wq_head);

    /// <summary>Wakes every waiter.</summary>
    [Linux("include/linux/wait.h")]
    void wake_up_all(wait_queue_head_t wq_head);

    /// <summary>Resets a completion to not done.</summary>
    [Linux("include/linux/completion.h")]
    void init_completion(completion x);

    /// <summary>Re-arms a completion (<c>done = 0</c>).</summary>
    [Linux("include/linux/completion.h")]
    void reinit_completion(completion x);

    /// <summary>Sleeps until the completion is signalled.</summary>
    [Linux("kernel/sched/completion.c"), MightSleep]
    void wait_for_completion(completion x);

    /// <summary>Sleeps until the completion is signalled or <paramref name="timeout"/> jiffies pass; the jiffies left or 0.</summary>
    [Linux("kernel/sched/completion.c"), MightSleep]
    ulong wait_for_completion_timeout(completion x, ulong timeout);

    /// <summary>Wakes one waiter of the completion.</summary>
    [Linux("kernel/sched/completion.c")]
    void complete(completion x);

    /// <summary>Wakes every waiter, now and later.</summary>
    [Linux("kernel/sched/completion.c")]
    void complete_all(completion x);
}

/// <summary>Deferred work (kernel-api.md §4): tasklets and timers (softirq), work items (process context).</summary>
[KernelSubsystem("deferred work", "IDeferredWork", BootOrder = 9, Reference = typeof(Reference.Deferred.ReferenceDeferredWork), Linux = "kernel/softirq.c")]
internal interface DeferredWorkDescription
{
    /// <summary>Prepares a tasklet to run <paramref name="callback"/> in softirq context.</summary>
    [Linux("kernel/softirq.c"), Callback("callback", KernelContext.SoftIrq)]
    void tasklet_setup(tasklet_struct t, Action<tasklet_struct> callback);

    /// <summary>Schedules a tasklet to run once on this CPU.</summary>
    [Linux("include/linux/interrupt.h")]
    void tasklet_schedule(tasklet_struct t);

    /// <summary>Schedules a tasklet at high priority.</summary>
    [Linux("include/linux/interrupt.h")]
    void tasklet_hi_schedule(tasklet_struct t);

    /// <summary>Waits for a scheduled tasklet to run and prevents it from being rescheduled; may sleep.</summary>
    [Linux("kernel/softirq.c"), MightSleep]
    void tasklet_kill(tasklet_struct t);

    /// <summary>Disables a tasklet (nesting) and waits for it to stop running.</summary>
    [Linux("include/linux/interrupt.h"), PairsWith("tasklet_enable")]
    void tasklet_disable(tasklet_struct t);

    /// <summary>Undoes one <c>tasklet_disable</c>.</summary>
    [Linux("include/linux/interrupt.h")]
    void tasklet_enable(tasklet_struct t);

    /// <summary>Prepares a timer to run <paramref name="function"/> in softirq context.</summary>
    [Linux("kernel/time/timer.c"), Callback("function", KernelContext.SoftIrq)]
    void timer_setup(timer_list timer, Action<timer_list> function, uint flags);

    /// <summary>(Re)arms a timer to fire at <paramref name="expires"/>; 1 when it was pending.</summary>
    [Linux("kernel/time/timer.c")]
    int mod_timer(timer_list timer, ulong expires);

    /// <summary>Arms a timer at its <c>expires</c>.</summary>
    [Linux("kernel/time/timer.c")]
    void add_timer(timer_list timer);

    /// <summary>Deactivates a timer; 1 when it was pending. The function may still be running on another CPU.</summary>
    [Linux("kernel/time/timer.c", Function = "timer_delete")]
    int del_timer(timer_list timer);

    /// <summary>Deactivates a timer and waits for a running function to finish; may sleep.</summary>
    [Linux("kernel/time/timer.c", Function = "timer_delete_sync"), MightSleep]
    int del_timer_sync(timer_list timer);

    /// <summary>True when the timer is armed.</summary>
    [Linux("include/linux/timer.h")]
    bool timer_pending(timer_list timer);

    /// <summary>Prepares a work item to run <paramref name="func"/> in process context.</summary>
    [Linux("include/linux/workqueue.h"), Callback("func", KernelContext.Process)]
    void INIT_WORK(work_struct work, Action<work_struct> func);

    /// <summary>Queues work on the system workqueue; false when it was already pending.</summary>
    [Linux("include/linux/workqueue.h")]
    bool schedule_work(work_struct work);

    /// <summary>Queues work on <paramref name="wq"/>; false when it was already pending.</summary>
    [Linux("kernel/workqueue.c")]
    bool queue_work(workqueue_struct wq, work_struct work);

    /// <summary>Waits for the work item's last queued run to finish; true when it waited.</summary>
    [Linux("kernel/workqueue.c"), MightSleep]
    bool flush_work(work_struct work);

    /// <summary>Cancels pending work and waits for a running one; true when it was pending.</summary>
    [Linux("kernel/workqueue.c"), MightSleep]
    bool cancel_work_sync(work_struct work);

    /// <summary>Creates a workqueue served by its own worker thread.</summary>
    [Linux("kernel/workqueue.c"), MightSleep]
    workqueue_struct? alloc_workqueue(string name, uint flags, int max_active);

    /// <summary>Drains and destroys a workqueue.</summary>
    [Linux("kernel/workqueue.c"), MightSleep]
    void destroy_workqueue(workqueue_struct wq);

    /// <summary>Waits until every work item queued on <paramref name="wq"/> has run.</summary>
    [Linux("kernel/workqueue.c"), MightSleep]
    void flush_workqueue(workqueue_struct wq);

    /// <summary>The system workqueue <c>schedule_work</c> uses.</summary>
    [Linux("kernel/workqueue.c")]
    workqueue_struct system_wq { get; }
}

/// <summary>The kernel log and warnings (kernel-api.md §4).</summary>
[KernelSubsystem("printk", "IPrintk", BootOrder = 1, Reference = typeof(Reference.Printk.ReferencePrintk), Linux = "kernel/printk/printk.c")]
internal interface PrintkDescription
{
    /// <summary>Writes to the kernel log; a leading <c>KERN_*</c> prefix sets the level.</summary>
    [Linux("kernel/printk/printk.c")]
    int printk(string message);

    /// <summary>Logs at <c>KERN_INFO</c>.</summary>
    [Linux("include/linux/printk.h")]
    int pr_info(string message);

    /// <summary>Logs at <c>KERN_WARNING</c>.</summary>
    [Linux("include/linux/printk.h")]
    int pr_warn(string message);

    /// <summary>Logs at <c>KERN_ERR</c>.</summary>
    [Linux("include/linux/printk.h")]
    int pr_err(string message);

    /// <summary>Logs at <c>KERN_DEBUG</c>.</summary>
    [Linux("include/linux/printk.h")]
    int pr_debug(string message);

    /// <summary>Reports a warning with the stack when <paramref name="condition"/> is true; returns it.</summary>
    [Linux("include/asm-generic/bug.h")]
    bool WARN_ON(bool condition);

    /// <summary>As <c>WARN_ON</c>, reporting only the first time at this call site.</summary>
    [Linux("include/asm-generic/bug.h")]
    bool WARN_ON_ONCE(bool condition);

    /// <summary>Reports a warning with a message when <paramref name="condition"/> is true; returns it.</summary>
    [Linux("include/asm-generic/bug.h")]
    bool WARN(bool condition, string message);

    /// <summary>Reports a kernel BUG and kills the current task when <paramref name="condition"/> is true.</summary>
    [Linux("include/asm-generic/bug.h")]
    void BUG_ON(bool condition);
}

// Self-test module for a student's irq and cpu-state subsystems: shared and threaded handlers, a tasklet, a watchdog
// timer, work items and kernel threads that look at the address space of the tasks they serve. Holds current in interrupt
// context, kernel-thread mm dereferences, init_mm tests, sleeping/GFP_KERNEL in interrupt context, lock mistakes, a leak.
using System;
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R6PIrqSelftest;

public sealed class test_line
{
    public test_line(uint irq) => this.irq = irq;

    public readonly uint irq;
    public readonly spinlock_t hw_lock = new();
    public uint status;          // simulated status register: bit 0 = raised, bit 1 = needs the thread
    public ulong fired;
    public ulong deadline;       // jiffies by which the irq thread must have run (0: none pending)
    public int last_pid;
    public kptr log;
}

public sealed class R6PIrqSelftest
{
    private const ulong LOG_SIZE = 256;
    private const uint LINE_D = 8;

    private static readonly percpu<ulong> bh_runs = DEFINE_PER_CPU<ulong>();

    private readonly test_line line_a = new(5);
    private readonly test_line line_b = new(6);
    private readonly test_line line_c = new(7);
    private readonly spinlock_t st_lock = new();
    private readonly rwlock_t map_lock = new();
    private readonly tasklet_struct bh = new();
    private readonly timer_list watchdog = new();
    private readonly work_struct mm_work = new();
    private readonly work_struct audit_work = new();
    private readonly irq_handler_t isr_b;
    private readonly Action<work_struct> audit_fn;
    private task_struct? borrower;
    private task_struct? sizer;
    private mm_struct? borrowed_mm;
    private ulong last_kick;
    private ulong irq_events;
    private ulong mm_pages;
    private int owner_pid;
    private int map_total;
    private string owner_comm = "";

    public R6PIrqSelftest()
    {
        isr_b = line_b_isr;
        audit_fn = audit_mm;
    }

    public int selftest_start()
    {
        kptr log = kzalloc(LOG_SIZE, GFP_KERNEL);
        if (log == NULL)
            return -ENOMEM; // ok: KH3004 (log is NULL on this path)
        tasklet_setup(bh, bh_fn);
        timer_setup(watchdog, watchdog_fn, 0);
        INIT_WORK(mm_work, mm_work_fn);
        INIT_WORK(audit_work, audit_fn);
        int err = request_irq(line_a.irq, line_a_isr, IRQF_SHARED, "selftest-a", line_a);
        if (err < 0)
            return err; // expect: KH3004 (log is neither freed nor stored when the first request_irq fails)
        line_a.log = log;
        err = request_irq(line_b.irq, isr_b, IRQF_SHARED, "selftest-b", line_b);
        if (err < 0)
            goto fail_a;
        err = request_threaded_irq(line_c.irq, line_c_quick, line_c_thread, IRQF_SHARED | IRQF_ONESHOT, "selftest-c", line_c);
        if (err < 0)
            goto fail_b;
        err = request_irq(LINE_D, (irq, dev) =>
        {
            irq_events++;
            owner_comm = current.comm; // expect: KH4003 (hard-IRQ handler lambda: current is just the interrupted task)
            kptr note = kmalloc(32, GFP_KERNEL); // expect: KH1002 (GFP_KERNEL in a hard-IRQ handler lambda)
            kfree(note);
            return IRQ_HANDLED;
        }, 0, "selftest-d", this);
        if (err < 0)
            goto fail_c;
        borrower = kthread_run(borrower_thread, this, "st-borrow");
        sizer = kthread_run(data =>
        {
            while (!kthread_should_stop())
            {
                mm_pages = current.mm.total_vm; // expect: KH6002 (kthread_run lambda: a kernel thread's current.mm is NULL)
                msleep(100); // ok: KH1001 (kernel thread, nothing held)
            }
            return 0;
        }, null, "st-size");
        last_kick = jiffies;
        mod_timer(watchdog, jiffies + HZ);
        return 0;
    fail_c:
        free_irq(line_c.irq, line_c);
    fail_b:
        free_irq(line_b.irq, line_b);
    fail_a:
        free_irq(line_a.irq, line_a);
        return err; // ok: KH3004 (log was handed to line_a.log before these failures)
    }

    public void selftest_stop()
    {
        del_timer_sync(watchdog); // ok: KH1001 (process context with nothing held)
        tasklet_kill(bh);
        cancel_work_sync(mm_work);
        cancel_work_sync(audit_work);
        free_irq(LINE_D, this);
        free_irq(line_c.irq, line_c);
        free_irq(line_b.irq, line_b);
        free_irq(line_a.irq, line_a);
        if (sizer != null)
            kthread_stop(sizer);
        if (borrower != null)
            kthread_stop(borrower);
        kfree(line_a.log);
        line_a.log = NULL;
    }

    // Line A: shared; the status register tells whether our device raised it.
    private irqreturn_t line_a_isr(int irq, object? dev_id)
    {
        var t = (test_line)dev_id!;
        if ((t.status & 1) == 0)
            return IRQ_NONE;
        t.status &= ~1u;
        t.fired++;
        t.last_pid = current.pid; // expect: KH4003 (hard-IRQ handler: current is just the interrupted task)
        if (in_task())
            owner_pid = current.pid; // ok: KH4003 (guarded by in_task())
        tasklet_schedule(bh);
        return IRQ_HANDLED;
    }

    // Line B: registered through the isr_b delegate field.
    private irqreturn_t line_b_isr(int irq, object? dev_id)
    {
        var t = (test_line)dev_id!;
        if (t.status == 0)
            return IRQ_NONE;
        t.status = 0;
        t.fired++;
        record_owner(t);
        disable_irq_nosync(t.irq); // ok: KH1001 (the _nosync variant does not wait; allowed in a handler)
        schedule_work(audit_work);
        return IRQ_HANDLED;
    }

    private void record_owner(test_line t) => t.last_pid = current.pid; // expect: KH4003 (reached from line_b_isr, a hard-IRQ handler registered through the isr_b field)

    // Line C: the primary handler only checks the device and wakes the thread.
    private irqreturn_t line_c_quick(int irq, object? dev_id)
    {
        var t = (test_line)dev_id!;
        if ((t.status & 2) == 0)
            return IRQ_NONE;
        t.deadline = jiffies + HZ / 2;
        t.last_pid = current.pid; // expect: KH4003 (the primary handler of a threaded irq still runs in hard-IRQ context)
        return IRQ_WAKE_THREAD;
    }

    private irqreturn_t line_c_thread(int irq, object? dev_id)
    {
        var t = (test_line)dev_id!;
        kptr rec = kmalloc(LOG_SIZE, GFP_KERNEL); // ok: KH1002 (thread_fn runs in process context)
        if (rec == NULL)
            return IRQ_HANDLED;
        owner_pid = current.pid; // ok: KH4003 (thread_fn runs in process context: current is the irq thread)
        msleep(1); // ok: KH1001 (a thread_fn may sleep)
        ptr_ref<ulong>(rec) = t.fired;
        kfree(rec);
        t.status &= ~2u;
        t.deadline = 0;
        return IRQ_HANDLED;
    }

    private void bh_fn(tasklet_struct t)
    {
        int cpu = get_cpu(); // expect: KH2001 (the early return when line A has not fired leaves preemption disabled)
        if (line_a.fired == 0)
            return;
        per_cpu(bh_runs, cpu)++;
        irq_events += line_a.fired;
        line_a.fired = 0;
        put_cpu();
        mm_pages = current.mm?.total_vm ?? 0; // expect: KH4003 (tasklet: softirq context, current.mm belongs to the interrupted task)
        note_caller();
    }

    private void note_caller()
    {
        if (!in_task())
            return;
        owner_comm = current.comm; // ok: KH4003 (after if (!in_task()) return: only task context gets here)
    }

    private void watchdog_fn(timer_list t)
    {
        ulong now = jiffies;
        if (line_c.deadline != 0 && now > line_c.deadline) // expect: KH5001 (raw > between jiffies and the deadline set from jiffies + HZ/2)
        {
            pr_warn("selftest: irq thread of line C is late");
            kptr dump = kmalloc(LOG_SIZE, GFP_NOIO); // expect: KH1002 (GFP_NOIO still allows direct reclaim; timer callbacks run in softirq context)
            if (dump != NULL)
            {
                ptr_ref<ulong>(dump) = line_c.fired;
                kfree(dump);
            }
            cancel_work_sync(mm_work); // expect: KH1001 (cancel_work_sync waits for the work; a timer callback runs in softirq context)
        }
        kptr probe = kmalloc(32, GFP_NOWAIT); // ok: KH1002 (GFP_NOWAIT never blocks)
        kfree(probe);
        if (time_after(now, last_kick + 5 * HZ)) // ok: KH5001 (wrap-safe time_after)
            schedule_work(mm_work); // ok: KH1001 (schedule_work only queues)
        if (now - last_kick > 30 * HZ) // ok: KH5001 (difference of two times compared with a duration)
            pr_err("selftest: no kick for 30 s");
        mod_timer(t, now + HZ);
    }

    private void mm_work_fn(work_struct w)
    {
        mm_pages = current.mm.total_vm; // expect: KH6002 (a work item runs in a kworker whose current.mm is NULL)
        owner_pid = current.pid; // ok: KH4003 (work items run in process context)
        note_caller();
    }

    private void audit_mm(work_struct w)
    {
        map_total = count_maps();
        if ((current.mm?.map_count ?? 0) > map_total) // ok: KH6002 (?. tests current.mm against null)
            pr_warn("selftest: map count moved during the audit");
        enable_irq(line_b.irq);
    }

    private int count_maps() => current.mm.map_count; // expect: KH6002 (reached from audit_mm, a work item registered through the audit_fn field)

    private int borrower_thread(object? data)
    {
        while (!kthread_should_stop())
        {
            var mm = borrowed_mm;
            if (mm != null && mmget_not_zero(mm))
            {
                mm_pages = mm.total_vm; // ok: KH6002 (a pinned mm_struct, not current.mm)
                mmput(mm); // ok: KH1001 (kernel thread, nothing held)
            }
            bool lazy = current.active_mm == init_mm; // ok: KH6001 (active_mm may be init_mm for a lazy-TLB kernel thread)
            if (current.mm is null) // ok: KH6001 (the right kernel-thread test)
                owner_comm = lazy ? "lazy" : current.comm; // ok: KH4003 (kernel thread: process context)
            else
                mm_pages += current.mm.total_vm; // ok: KH6002 (this function tests current.mm against null)
            msleep(50);
        }
        return 0;
    }

    // ioctl: lend the caller's address space to the borrower thread.
    public int attach_caller()
    {
        if (current.mm == init_mm) // expect: KH6001 (never true: a kernel thread has current.mm == NULL)
            return -EPERM;
        if (current.mm == null) // ok: KH6001 (the right kernel-thread test)
            return -EINVAL;
        var mm = current.mm!;
        mmget(mm);
        spin_lock(st_lock);
        var old = borrowed_mm;
        borrowed_mm = mm;
        spin_unlock(st_lock);
        if (old != null)
            mmput(old); // ok: KH1001 (st_lock was released before mmput)
        return 0;
    }

    public int detach()
    {
        bool user_caller = init_mm != current.mm; // expect: KH6001 (init_mm != current.mm is always true)
        if (!user_caller || borrowed_mm == null)
            return -EPERM;
        mmput(borrowed_mm);
        borrowed_mm = null;
        return 0;
    }

    public void set_owner(test_line t, int pid)
    {
        write_lock_irqsave(map_lock, out ulong fl);
        t.last_pid = pid;
        write_unlock_irq(map_lock); // expect: KH2004 (write_lock_irqsave released with write_unlock_irq)
    }

    public int owner_peek(test_line t)
    {
        read_lock_irqsave(map_lock, out ulong fl);
        int pid = t.last_pid;
        read_unlock_irq(map_lock); // expect: KH2004 (read_lock_irqsave released with read_unlock_irq)
        return pid;
    }

    public ulong fired_total()
    {
        rcu_read_lock(); // expect: KH2003 (the early return for an idle line A leaves the RCU read section open)
        if (line_a.fired == 0)
            return 0;
        ulong n = line_a.fired + line_b.fired + line_c.fired;
        rcu_read_unlock();
        return n;
    }

    public ulong snapshot_lines()
    {
        local_irq_save(out ulong flags);
        spin_lock_irqsave(line_a.hw_lock, out ulong fa);
        ulong sum = line_a.fired;
        spin_unlock_irqrestore(line_a.hw_lock, fa);
        sum += line_b.fired + line_c.fired;
        local_irq_restore(flags); // ok: KH2002 (the nested irqsave lock was released first; the outer save is restored last)
        return sum;
    }

    public bool try_kick()
    {
        if (spin_trylock(st_lock)) // ok: KH2003 (conditional locking, balanced inside the if)
        {
            last_kick = jiffies;
            spin_unlock(st_lock);
            return true;
        }
        return false;
    }

    [Acquires("t.hw_lock")]
    private static void lock_line(test_line t) => spin_lock(t.hw_lock);

    [Releases("t.hw_lock")]
    private static void unlock_line(test_line t) => spin_unlock(t.hw_lock);

    public void raise_thread_work(test_line t)
    {
        lock_line(t); // ok: KH2003 (lock_line is [Acquires]; unlock_line below is its [Releases] pair)
        t.status |= 2;
        unlock_line(t);
    }
}

// SensorHub: a shared-IRQ sensor FIFO driver (ISR, tasklet, poll timer, recalibration work, monitor kthread).
// Precision test: mostly correct-but-suspicious code (ok:); real bugs KH1001, KH1002, KH2003, KH3004, KH4003, KH4004, KH5001, KH6002.
using System;
using System.Collections.Generic;
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.SensorHubPrecision;

public sealed class SensorHub
{
    private const ulong FIFO_BYTES = 64 * 1024;
    private const ulong CALIB_BYTES = 256;
    private const ulong FRAME_BYTES = 128;
    private const uint STATUS_DRDY = 0x1;
    private const uint STATUS_OVF = 0x2;
    private const int FIFO_SLOTS = 512;

    private readonly spinlock_t fifo_lock = new();
    private readonly spinlock_t stat_lock = new();
    private readonly mutex cfg_lock = new();
    private readonly wait_queue_head_t data_wq = new();
    private readonly tasklet_struct bh = new();
    private readonly timer_list poll_timer = new();
    private readonly work_struct recal_work = new();
    private readonly List<kptr> frames = new();                // ok: System.Collections.Generic is allowlisted
    private static readonly percpu<long> samples = DEFINE_PER_CPU<long>();
    private static readonly percpu<long> btn_events = DEFINE_PER_CPU<long>();

    private kptr fifo = NULL;
    private kptr calib = NULL;
    private ulong irq_flags;          // flags of the irqsave hold taken by hub_lock()
    private uint status_reg;          // device status register (DRDY/OVF)
    private uint irq, btn_irq, aux_irq;
    private int head, tail;
    private int threshold = 64;
    private bool data_ready;
    private ulong last_sample, recal_deadline;
    private int last_reader_pid, owner_pid;
    private task_struct? monitor;

    public int probe(uint line, uint button_line, uint aux_line)
    {
        int err;
        irq = line; btn_irq = button_line; aux_irq = aux_line;
        var f = kvmalloc(FIFO_BYTES, GFP_KERNEL);                 // ok: process context, GFP_KERNEL allowed
        if (f == NULL)
            return -ENOMEM;                                        // ok: nothing allocated yet, nothing leaks
        var c = kzalloc(CALIB_BYTES, GFP_KERNEL | __GFP_NOWARN);   // ok: valid gfp combination in process context
        if (c == NULL)
        {
            err = -ENOMEM;
            goto err_free_fifo;                                    // ok: the shared cleanup label frees f
        }
        fifo = f; calib = c;
        tasklet_setup(bh, sensor_bh);
        timer_setup(poll_timer, poll_timer_fn, 0);
        INIT_WORK(recal_work, recal_work_fn);

        err = request_irq(irq, sensor_isr, IRQF_SHARED, "sensorhub", this);    // ok: shared line with a non-null dev_id; handler checks status first
        if (err != 0)
            goto err_clear;
        err = request_irq(btn_irq, button_isr, IRQF_SHARED | IRQF_TRIGGER_FALLING, "sensorhub-btn", this); // expect: KH4004 (shared handler button_isr returns IRQ_HANDLED on every path without reading device state)
        if (err != 0)
            goto err_free_irq;
        err = request_irq(aux_irq, aux_isr, IRQF_TRIGGER_RISING, "sensorhub-aux", null); // ok: not IRQF_SHARED, so a null dev_id is legal and claiming every interrupt is fine
        if (err != 0)
            goto err_free_btn;

        last_sample = jiffies;
        recal_deadline = jiffies + 30 * HZ;
        mod_timer(poll_timer, jiffies + HZ);
        return 0;

    err_free_btn:
        free_irq(btn_irq, this);                                   // ok: same dev_id expression as its request_irq
    err_free_irq:
        free_irq(irq, this);                                       // ok: same dev_id expression as its request_irq
    err_clear:
        fifo = NULL;
        calib = NULL;
        kfree(c);                                                  // ok: kzalloc memory freed with kfree, once
    err_free_fifo:
        kvfree(f);                                                 // ok: kvfree of kvmalloc memory
        return err;
    }

    // Hard-IRQ handler on a shared line: claims the interrupt only when the device raised it.
    private irqreturn_t sensor_isr(int irq_no, object? dev_id)
    {
        if (dev_id is not SensorHub hub)
            return IRQ_NONE;
        uint st = hub.status_reg;
        if ((st & (STATUS_DRDY | STATUS_OVF)) == 0)
            return IRQ_NONE;                                       // ok: status read through dev_id before claiming
        hub.status_reg = 0;
        if ((st & STATUS_OVF) != 0)
            udelay(10);                                            // ok: busy wait is allowed in hard-IRQ context
        spin_lock(hub.fifo_lock);                                  // ok: interrupts are already off in the hard-IRQ handler
        hub.head = (hub.head + 1) % FIFO_SLOTS;
        hub.data_ready = true;
        spin_unlock(hub.fifo_lock);                                // ok: matches spin_lock
        var frame = hub.alloc_frame(GFP_ATOMIC);                   // ok: GFP_ATOMIC passed from hard-IRQ context
        if (frame != NULL)
            hub.queue_frame(frame);
        this_cpu_inc(samples);
        tasklet_schedule(hub.bh);
        return IRQ_HANDLED;
    }

    // Shared button line: does not look at the device before claiming.
    private irqreturn_t button_isr(int irq_no, object? dev_id) { this_cpu_inc(btn_events); return IRQ_HANDLED; }

    // Dedicated line: nobody else can have raised it.
    private irqreturn_t aux_isr(int irq_no, object? dev_id)
    {
        mdelay(1);                                                 // ok: mdelay busy-waits, allowed in hard-IRQ context
        return IRQ_HANDLED;
    }

    // The caller chooses the gfp: GFP_ATOMIC from interrupt context, GFP_KERNEL from process context.
    private kptr alloc_frame(gfp_t gfp)
    {
        var p = kmalloc(FRAME_BYTES, gfp);                         // ok: gfp_t parameter passed through, the callers are checked
        if (p == NULL)
            return NULL;
        memset(p, 0, FRAME_BYTES);                                 // ok: NULL checked above
        return p;
    }

    // Reached from hard-IRQ, softirq and process context: irqsave is the safe variant everywhere.
    private void queue_frame(kptr frame)
    {
        spin_lock_irqsave(stat_lock, out ulong flags);
        if (frames.Count >= FIFO_SLOTS) { spin_unlock_irqrestore(stat_lock, flags); kfree(frame); return; }   // ok: lock released before the early return; kmalloc frame dropped with kfree
        frames.Add(frame);
        spin_unlock_irqrestore(stat_lock, flags);
    }

    [Acquires("dev.fifo_lock", Kind = LockKind.SpinIrqSave)]
    private static void hub_lock(SensorHub dev) =>
        spin_lock_irqsave(dev.fifo_lock, out dev.irq_flags);       // ok: [Acquires] helper, flags kept in a field

    [Releases("dev.fifo_lock", Kind = LockKind.SpinIrqSave)]
    private static void hub_unlock(SensorHub dev) =>
        spin_unlock_irqrestore(dev.fifo_lock, dev.irq_flags);      // ok: [Releases] helper restores the flags hub_lock saved

    // Waits for the sensor to settle: sleeps only when the caller says it may.
    private void settle_hw(bool may_sleep) { if (may_sleep) msleep(5); else mdelay(5); }

    // Tasklet: softirq context.
    private void sensor_bh(tasklet_struct t)
    {
        settle_hw(false);                                          // ok: constant false, the msleep branch cannot be taken
        hub_lock(this);                                            // ok: [Acquires] helper, released by hub_unlock below
        int n = (head - tail + FIFO_SLOTS) % FIFO_SLOTS;
        tail = head;
        hub_unlock(this);                                          // ok: [Releases] helper, balances hub_lock
        var extra = alloc_frame(GFP_KERNEL);                       // expect: KH1002 (blocking GFP_KERNEL passed to an allocating helper from a tasklet, softirq context)
        if (extra != NULL)
            queue_frame(extra);
        if (n > 0)
            wake_up_interruptible(data_wq);
        log_reader();                                              // ok: the helper reads current only under in_task()
    }

    // Called from the poll timer (softirq) and from set_rate() (process): must not sleep.
    private int refill_calib()
    {
        var tmp = kmalloc(CALIB_BYTES, GFP_ATOMIC);                // ok: reachable from the poll timer, so GFP_ATOMIC is required
        if (ZERO_OR_NULL_PTR(tmp))
            return -ENOMEM;                                        // ok: nothing was allocated
        memset(tmp, 0, CALIB_BYTES);                               // ok: checked with ZERO_OR_NULL_PTR
        spin_lock_irqsave(stat_lock, out ulong flags);
        var old = calib;
        calib = tmp;
        spin_unlock_irqrestore(stat_lock, flags);
        kfree(old);                                                // ok: the previous table, kmalloc/kzalloc memory
        return 0;
    }

    // Timer callback: softirq context.
    private void poll_timer_fn(timer_list t)
    {
        if (time_after(jiffies, last_sample + 5 * HZ))             // ok: time_after on a jiffies-derived field
            schedule_work(recal_work);
        if (jiffies - last_sample >= 2 * HZ)                       // ok: subtraction compared against a duration
            refill_calib();                                        // ok: GFP_ATOMIC helper, no sleep
        if (jiffies > recal_deadline)                              // expect: KH5001 (raw > between jiffies and a jiffies-derived deadline)
            recal_deadline = jiffies + 30 * HZ;
        owner_pid = current.pid;                                   // expect: KH4003 (current read in a timer callback: only the interrupted task)
        mod_timer(poll_timer, jiffies + HZ);
    }

    private void log_reader()
    {
        if (in_task()) last_reader_pid = current.pid;              // ok: in_task()-guarded read of current
    }

    // Work item: process context, may sleep.
    private void recal_work_fn(work_struct w)
    {
        mutex_lock(cfg_lock);
        settle_hw(true);                                           // ok: work item, process context may sleep
        if (current.mm == null)                                    // ok: the right kernel-thread test (not init_mm)
            pr_info("sensorhub: recalibrating from a kworker\n");
        ulong vm = user_vm_pages();
        if (vm > 0)
            pr_info($"sensorhub: recal on behalf of a {vm}-page process\n");
        last_sample = jiffies;
        recal_deadline = jiffies + 30 * HZ;
        mutex_unlock(cfg_lock);
    }

    // Shared by the work item and ioctl callers: checks mm before using it.
    private ulong user_vm_pages()
    {
        if (current.mm == null)                                    // ok: null test, not init_mm
            return 0;
        return current.mm.total_vm;                                // ok: current.mm null-checked on this path
    }

    public int set_rate(uint hz)
    {
        if (mutex_lock_interruptible(cfg_lock) != 0)
            return -EINTR;                                         // ok: mutex_lock_interruptible failed, the lock is not held
        settle_hw(true);                                           // ok: mutex held, process context may sleep
        int err = refill_calib();
        mutex_unlock(cfg_lock);
        return err;
    }

    public int set_threshold(int value)
    {
        mutex_lock(cfg_lock);                                      // expect: KH2003 (cfg_lock not released on the early return -EINVAL)
        if (value < 0 || value > 4096)
            return -EINVAL;
        threshold = value;
        mutex_unlock(cfg_lock);
        return 0;
    }

    public int try_sample_now()
    {
        if (mutex_trylock(cfg_lock) == 0)
            return -EBUSY;                                         // ok: trylock failed, nothing is held
        if (!data_ready) { mutex_unlock(cfg_lock); return -EAGAIN; }   // ok: released before the early exit
        settle_hw(true);
        mutex_unlock(cfg_lock);                                    // ok: trylock succeeded on this path
        return 0;
    }

    private void apply_config() { mutex_lock(cfg_lock); status_reg = 0; mutex_unlock(cfg_lock); }

    public void reset_fifo()
    {
        spin_lock_irq(fifo_lock);
        head = tail = 0;
        data_ready = false;
        apply_config();                                            // expect: KH1001 (apply_config takes the cfg_lock mutex while fifo_lock is held with irqs off)
        spin_unlock_irq(fifo_lock);
    }

    public int load_calibration(ulong ubuf, ulong len)
    {
        if (len == 0 || len > CALIB_BYTES)
            return -EINVAL;                                        // ok: nothing allocated yet
        var tmp = kmalloc(CALIB_BYTES, GFP_KERNEL);
        if (tmp == NULL)
            return -ENOMEM;                                        // ok: the allocation failed, nothing to free
        if (copy_from_user(tmp, ubuf, len) != 0)
            return -EFAULT;                                        // expect: KH3004 (tmp leaked when copy_from_user faults)
        if (ptr_span(tmp, 1)[0] != 0xCA) { kfree(tmp); return -EINVAL; }   // ok: tmp freed just before the error return
        spin_lock_irqsave(stat_lock, out ulong flags);
        var old = calib;
        calib = tmp;
        spin_unlock_irqrestore(stat_lock, flags);
        kfree(old);
        return 0;
    }

    public long read_samples(ulong ubuf, ulong count)
    {
        var wait = DEFINE_WAIT();
        int ret = 0;
        while (true)
        {
            prepare_to_wait(data_wq, wait, TASK_INTERRUPTIBLE);
            if (data_ready)
                break;
            if (signal_pending(current)) { ret = -EINTR; break; }  // ok: process context, current is the reader
            schedule();                                            // ok: LKD chapter 4 loop re-tests data_ready after each wake-up
        }
        finish_wait(data_wq, wait);
        if (ret != 0)
            return ret;
        log_reader();
        ulong n = Math.Min(count, FRAME_BYTES);                    // ok: System.Math is allowlisted
        var bounce = kmalloc(n, GFP_KERNEL);
        if (bounce == NULL)
            return -ENOMEM;                                        // ok: nothing to free
        hub_lock(this);
        data_ready = false;
        memset(bounce, head & 0xff, n);                            // ok: bounce NULL-checked above
        hub_unlock(this);
        ulong left = copy_to_user(ubuf, bounce, n);                // ok: copy_to_user after hub_unlock released the irqsave lock
        kfree(bounce);
        return left == 0 ? (long)n : -EFAULT;
    }

    public int wait_ready() => wait_event_interruptible(data_wq, () => data_ready);   // ok: wait_event* re-tests the condition

    public void start_monitor() => monitor = kthread_run(monitor_fn, this, "sensorhub-mon");

    private void report_usage()
    {
        ulong vm = current.mm!.total_vm;                           // expect: KH6002 (reached from kthread_run: a kernel thread's mm is null)
        pr_info($"sensorhub: monitor sees {vm} pages, threshold {threshold}\n");
    }

    private int monitor_fn(object? data)
    {
        while (!kthread_should_stop())
        {
            if (current.mm == null)                                // ok: the kernel-thread test (not init_mm)
                pr_info($"sensorhub: kthread {current.pid} running\n");  // ok: kthread, process context
            report_usage();
            msleep(100);                                           // ok: kernel thread, process context
        }
        return 0;
    }

    public ulong caller_vm_pages() => user_vm_pages();

    public void remove()
    {
        if (monitor != null) kthread_stop(monitor);
        free_irq(aux_irq, null);                                   // ok: matches the null dev_id of its non-shared request_irq
        free_irq(btn_irq, this);
        free_irq(irq, this);                                       // ok: same dev_id expression as its request_irq
        del_timer_sync(poll_timer);
        cancel_work_sync(recal_work);
        tasklet_kill(bh);
        foreach (var fr in frames)
            kfree(fr);                                             // ok: each queued frame freed once
        frames.Clear();
        kfree(calib); calib = NULL;
        kvfree(fifo); fifo = NULL;                                 // ok: kvfree of kvmalloc memory
    }
}

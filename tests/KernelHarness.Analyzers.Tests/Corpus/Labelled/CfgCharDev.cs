// Configuration character device (buffer under a spinlock, config under a mutex, IRQ on demand, work items, logger kthread). Mistakes: user
// copies/mutex/request_irq under spinlocks, mutex kept on -EFAULT, unlock after failed lock, mismatched _bh/_irq releases, GFP misuse.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.CfgCharDev;

public struct dev_config {
    public int mode, threshold, flags;
    public uint irq_line;
}

public sealed class CfgDev {
    private const ulong BUF_SIZE = 4096;
    private const int CMD_GET_MODE = 1, CMD_SET_MODE = 2;

    private static readonly percpu<long> reads = DEFINE_PER_CPU<long>();

    private readonly mutex cfg_mutex = new();
    private readonly spinlock_t buf_lock = new();
    private readonly spinlock_t evt_lock = new();
    private readonly spinlock_t stat_lock = new();
    private readonly wait_queue_head_t read_wq = new();
    private readonly work_struct apply_work = new();
    private readonly work_struct gc_work = new();
    private readonly timer_list idle_timer = new();
    private readonly System.Action<timer_list> idle_cb;
    private kptr kbuf = NULL, staging = NULL, evt_log = NULL;
    private ulong buf_len;
    private dev_config cfg, pending_cfg;
    private bool irq_enabled, dirty;
    private long events, idle_ticks;
    private task_struct? logger;

    public CfgDev() {
        idle_cb = idle_timeout;
    }

    public int init() {
        kbuf = kzalloc(BUF_SIZE, GFP_KERNEL);
        if (kbuf == NULL)
            return -ENOMEM;
        staging = kmalloc(BUF_SIZE, GFP_KERNEL | __GFP_ZERO | __GFP_NOWARN); // ok: valid combination of modifiers
        if (staging == NULL) {
            kfree(kbuf);
            kbuf = NULL;
            return -ENOMEM;
        }
        INIT_WORK(apply_work, apply_config_work);
        INIT_WORK(gc_work, gc_work_fn);
        timer_setup(idle_timer, idle_cb, 0);
        mod_timer(idle_timer, jiffies + 30 * HZ);
        logger = kthread_run(logger_thread, this, "cfgdev-log");
        return 0;
    }

    public long read(ulong ubuf, ulong count) {
        if (wait_event_interruptible(read_wq, () => buf_len > 0) != 0) // ok: nothing held while waiting
            return -EINTR;
        spin_lock(buf_lock);
        ulong n = count < buf_len ? count : buf_len;
        ulong left = copy_to_user(ubuf, kbuf, n); // expect: KH1001 (copy_to_user may fault and sleep; buf_lock is held)
        buf_len = 0;
        spin_unlock(buf_lock);
        this_cpu_inc(reads);
        return left != 0 ? -EFAULT : (long)n;
    }

    public long reads_here(bool reset) {
        int cpu = get_cpu(); // expect: KH2001 (get_cpu not undone on the reset return)
        long v = per_cpu(reads, cpu);
        if (reset) {
            per_cpu(reads, cpu) = 0;
            return v;
        }
        put_cpu();
        return v;
    }

    public long write(ulong ubuf, ulong count) {
        if (count > BUF_SIZE)
            return -EINVAL;
        mutex_lock(cfg_mutex); // expect: KH2003 (cfg_mutex still held on the -EFAULT return)
        if (copy_from_user(staging, ubuf, count) != 0)
            return -EFAULT;
        pending_cfg = ptr_ref<dev_config>(staging);
        dirty = true;
        mutex_unlock(cfg_mutex);
        schedule_work(apply_work);
        return (long)count;
    }

    public long write_config(ulong ubuf, ulong count) {
        long ret;
        if (count > BUF_SIZE)
            return -EINVAL;
        mutex_lock(cfg_mutex); // ok: every exit goes through out_unlock
        if (copy_from_user(staging, ubuf, count) != 0) { // ok: a mutex allows the user copy to sleep
            ret = -EFAULT;
            goto out_unlock;
        }
        var hist = kmalloc(16, GFP_NOIO | __GFP_NOFAIL); // ok: __GFP_NOFAIL with blocking flags, under a mutex
        ptr_ref<int>(hist) = cfg.mode;
        kfree(hist);
        pending_cfg = ptr_ref<dev_config>(staging);
        dirty = true;
        schedule_work(apply_work);
        ret = (long)count;
    out_unlock:
        mutex_unlock(cfg_mutex);
        return ret;
    }

    public long ioctl(int cmd, ulong arg) {
        long ret = 0;
        int err = mutex_lock_interruptible(cfg_mutex);
        if (err != 0)
            goto out_unlock;
        switch (cmd) {
            case CMD_GET_MODE:
                ret = cfg.mode;
                break;
            case CMD_SET_MODE:
                cfg.mode = (int)arg;
                break;
            default:
                ret = -EINVAL;
                break;
        }
    out_unlock:
        mutex_unlock(cfg_mutex); // expect: KH2003 (reached when mutex_lock_interruptible failed: the mutex is not held)
        return err != 0 ? err : ret;
    }

    public int enable_interrupt(uint line) {
        spin_lock_irqsave(evt_lock, out var flags);
        if (irq_enabled) {
            spin_unlock_irqrestore(evt_lock, flags);
            return -EBUSY;
        }
        irq_enabled = true;
        int err = request_irq(line, cfg_isr, IRQF_TRIGGER_HIGH, "cfgdev", this); // expect: KH1001 (request_irq may sleep; evt_lock is held with irqs off)
        if (err != 0)
            irq_enabled = false;
        spin_unlock_irqrestore(evt_lock, flags);
        if (err == 0)
            cfg.irq_line = line;
        return err;
    }

    // Hard-IRQ context.
    private irqreturn_t cfg_isr(int irq_no, object? dev_id) {
        if (dev_id is not CfgDev dev || !dev.irq_enabled)
            return IRQ_NONE;
        spin_lock(evt_lock);
        events++;
        var rec = alloc_record(32, GFP_ATOMIC); // ok: GFP_ATOMIC handed to the allocating helper
        if (rec != NULL) {
            kfree(evt_log);
            evt_log = rec;
        }
        spin_unlock(evt_lock);
        wake_up(read_wq); // ok: wake_up does not sleep
        return IRQ_HANDLED;
    }

    private kptr alloc_record(ulong size, gfp_t gfp) {
        var rec = kmalloc(size, gfp); // ok: gfp parameter passed through; the callers are checked instead
        if (rec != NULL)
            memset(rec, 0, size);
        return rec;
    }

    public int log_event(int code) {
        spin_lock_irqsave(evt_lock, out var flags);
        var rec = alloc_record(16, GFP_KERNEL); // expect: KH1002 (blocking GFP_KERNEL passed to an allocating helper under evt_lock)
        if (rec == NULL) {
            spin_unlock_irqrestore(evt_lock, flags);
            return -ENOMEM;
        }
        ptr_ref<int>(rec) = code;
        kfree(evt_log);
        evt_log = rec;
        spin_unlock_irqrestore(evt_lock, flags);
        return 0;
    }

    public int reserve_event_slot() {
        spin_lock_irqsave(evt_lock, out var flags);
        var slot = kzalloc(16, GFP_NOWAIT | __GFP_NOFAIL); // expect: KH1004 (__GFP_NOFAIL with non-blocking GFP_NOWAIT)
        kfree(evt_log);
        evt_log = slot;
        spin_unlock_irqrestore(evt_lock, flags);
        return 0;
    }

    public int reset_device() {
        spin_lock_irqsave(evt_lock, out var flags);
        events = 0;
        mutex_lock(cfg_mutex); // expect: KH1001 (mutex_lock may sleep; evt_lock is held with irqs off)
        cfg = default;
        mutex_unlock(cfg_mutex);
        spin_unlock_irqrestore(evt_lock, flags);
        return 0;
    }

    public void clear_stats() {
        spin_lock_bh(stat_lock);
        idle_ticks = 0;
        spin_unlock(stat_lock); // expect: KH2004 (spin_lock_bh released with spin_unlock: bottom halves stay disabled)
    }

    public void ack_events() {
        spin_lock_irq(evt_lock);
        events = 0;
        spin_unlock(evt_lock); // expect: KH2004 (spin_lock_irq released with spin_unlock: irqs stay disabled)
    }

    public long drain_events() {
        spin_lock_irqsave(evt_lock, out var flags);
        long n = events;
        events = 0;
        spin_unlock_irq(evt_lock); // expect: KH2004 (spin_lock_irqsave released with spin_unlock_irq instead of irqrestore)
        return n;
    }

    public long count_events_irqs_off() {
        local_irq_save(out var flags); // ok: restored after the inner lock is dropped
        spin_lock(evt_lock);
        long n = events;
        spin_unlock(evt_lock); // ok: plain spin_lock paired with plain spin_unlock inside a local_irq_save region
        local_irq_restore(flags);
        return n;
    }

    public void latch_event_regs() {
        local_irq_save(out var f_dev);
        cfg.flags |= 1;
        local_irq_save(out var f_evt);
        events++;
        local_irq_restore(f_dev); // expect: KH2002 (crossed: f_dev restored while f_evt is still saved)
        local_irq_restore(f_evt);
    }

    public void pulse_reset_line() {
        local_irq_disable(); // ok: re-enabled on the only path
        cfg.flags |= 2;
        mdelay(1); // ok: busy wait with interrupts disabled
        cfg.flags &= ~2;
        local_irq_enable();
    }

    // Timer callback (registered through the idle_cb field): softirq context.
    private void idle_timeout(timer_list t) {
        spin_lock(stat_lock); // ok: process-side users take stat_lock with spin_lock_bh
        idle_ticks++;
        spin_unlock(stat_lock);
        if (dirty)
            save_config(); // expect: KH1001 (save_config() takes cfg_mutex; idle_timeout runs in softirq context)
        ulong pg = __get_free_page(GFP_KERNEL); // expect: KH1002 (GFP_KERNEL in a timer callback)
        if (pg != 0)
            free_page(pg);
        var note = kmalloc(32, GFP_ATOMIC | __GFP_NOFAIL); // expect: KH1004 (__GFP_NOFAIL with GFP_ATOMIC: a no-fail allocation must be able to block)
        kfree(note);
        schedule_work(gc_work); // ok: queuing work from softirq does not sleep; gc_work_fn itself runs in process context
        mod_timer(idle_timer, jiffies + 30 * HZ);
    }

    private void save_config() {
        mutex_lock(cfg_mutex);
        cfg = pending_cfg;
        dirty = false;
        mutex_unlock(cfg_mutex);
    }

    // Work item: process context.
    private void apply_config_work(work_struct w) {
        var shadow = kmalloc(64, GFP_ATOMIC); // expect: KH1003 (work item with nothing held)
        if (shadow == NULL)
            return;
        save_config(); // ok: process context
        ptr_ref<dev_config>(shadow) = cfg;
        spin_lock_irqsave(evt_lock, out var flags);
        var rec = kzalloc(16, GFP_ATOMIC); // ok: evt_lock is held, GFP_ATOMIC is required here
        if (rec != NULL) {
            kfree(evt_log);
            evt_log = rec;
        }
        spin_unlock_irqrestore(evt_lock, flags);
        msleep(1); // ok: the spinlock was dropped
        kfree(shadow);
    }

    private void gc_work_fn(work_struct w) {
        var snap = build_snapshot();
        rcu_read_lock();
        var tmp = kmalloc(32, GFP_ATOMIC); // ok: inside an RCU read-side section
        rcu_read_unlock();
        kfree(tmp);
        kfree(snap);
    }

    private kptr build_snapshot() {
        var snap = kmalloc(64, GFP_ATOMIC); // expect: KH1003 (private helper reached only from gc_work_fn, nothing held)
        if (snap != NULL)
            ptr_ref<dev_config>(snap) = cfg;
        return snap;
    }

    // Kernel thread: process context.
    private int logger_thread(object? data) {
        while (!kthread_should_stop()) {
            var rec = alloc_record(64, GFP_KERNEL); // ok: kernel thread, nothing held
            if (rec != NULL) {
                ptr_ref<long>(rec) = events;
                kfree(rec);
            }
            if (spin_trylock(buf_lock)) {
                buf_len = 0;
                spin_unlock(buf_lock);
            } else {
                msleep(5); // ok: on this branch spin_trylock failed, nothing is held
            }
            ssleep(1);
        }
        return 0;
    }

    public void shutdown() {
        spin_lock_bh(stat_lock);
        var t = logger;
        logger = null;
        spin_unlock_bh(stat_lock);
        if (t is not null)
            kthread_stop(t); // ok: stat_lock was dropped first
        del_timer_sync(idle_timer);
        cancel_work_sync(apply_work);
        flush_work(gc_work);
        if (irq_enabled)
            free_irq(cfg.irq_line, this);
        kfree(evt_log);
        evt_log = NULL;
        kfree(staging);
        staging = NULL;
        kfree(kbuf);
        kbuf = NULL;
    }
}

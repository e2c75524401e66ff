// Sensor polled by a timer, filtered in a tasklet, threaded alert IRQ whose hard handler sits in a field. Mistakes: sleeping in softirq/hard
// IRQ, a sleep atomic on one path, crossed/enabled irq saves, unbalanced trylock/read_lock, mismatched rwlock releases, GFP misuse.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.SensorPoll;

public struct sample {
    public int temp_mc;
    public int press_pa;
    public ulong stamp;
}

public sealed class SensorDev {
    private const int HIST = 16;

    private readonly spinlock_t sample_lock = new();
    private readonly rwlock_t cfg_lock = new();
    private readonly mutex bus_mutex = new();
    private readonly semaphore i2c_sem = new(1);
    private readonly timer_list poll_timer = new();
    private readonly tasklet_struct filter_tasklet = new();
    private readonly wait_queue_head_t data_wq = new();
    private readonly irq_handler_t alert_handler;
    private readonly kptr[] hist = new kptr[HIST];
    private readonly int[] channel_map = new int[8];
    private kmem_cache? sample_cache;
    private int hist_pos, filter_pending, filtered_temp;
    private int threshold_hi = 80000, threshold_lo = -20000;
    private uint poll_ms = 100;
    private uint irq;
    private long misses, alerts;
    private int reg_ctrl, reg_status, reg_data;

    public SensorDev() {
        alert_handler = alert_isr;
    }

    public int probe(uint irq_line) {
        irq = irq_line;
        sample_cache = kmem_cache_create("sensor_sample", 24, 8, 0, null);
        if (sample_cache is null)
            return -ENOMEM;
        timer_setup(poll_timer, poll_timer_fn, 0);
        tasklet_setup(filter_tasklet, t => {
            filter_pending = 0;
            run_filter(); // expect: KH1001 (run_filter() sleeps in down(), the tasklet runs in softirq context)
        });
        int err = request_threaded_irq(irq, alert_handler, alert_thread, IRQF_ONESHOT | IRQF_TRIGGER_FALLING, "sensor-alert", this);
        if (err != 0) {
            kmem_cache_destroy(sample_cache);
            sample_cache = null;
            return err;
        }
        mod_timer(poll_timer, jiffies + msecs_to_jiffies(poll_ms));
        return 0;
    }

    // Starts a conversion; sleeps for it only when the caller says it may.
    private int read_sensor(bool can_sleep) {
        reg_ctrl |= 1;
        if (can_sleep)
            msleep(2);
        else
            udelay(200);
        return reg_data;
    }

    private void calibrate() {
        reg_ctrl |= 0x80;
        msleep(10);
        reg_ctrl &= ~0x80;
    }

    private void run_filter() {
        down(i2c_sem);
        int sum = 0, n = 0;
        for (int i = 0; i < HIST; i++) {
            if (hist[i] == NULL)
                continue;
            sum += ptr_ref<sample>(hist[i]).temp_mc;
            n++;
        }
        filtered_temp = n == 0 ? 0 : sum / n;
        up(i2c_sem);
    }

    // Timer callback: softirq context.
    private void poll_timer_fn(timer_list t) {
        int raw = read_sensor(false); // ok: the sleeping branch needs can_sleep == true; the constant false rules it out
        if (raw < 0)
            calibrate(); // expect: KH1001 (calibrate() calls msleep, the timer callback runs in softirq context)
        var s = kmem_cache_alloc(sample_cache!, GFP_KERNEL); // expect: KH1002 (GFP_KERNEL in a timer callback, softirq context)
        if (s == NULL) {
            misses++;
            goto rearm;
        }
        ref var smp = ref ptr_ref<sample>(s);
        smp.temp_mc = raw;
        smp.press_pa = reg_status >> 8;
        smp.stamp = jiffies;
        var scratch = kmalloc(64, GFP_ATOMIC | __GFP_ZERO); // ok: GFP_ATOMIC in softirq context; no KH1003 here
        spin_lock(sample_lock); // ok: the process-side users take it with spin_lock_bh
        var old = hist[hist_pos];
        hist[hist_pos] = s;
        hist_pos = (hist_pos + 1) % HIST;
        spin_unlock(sample_lock);
        if (old != NULL)
            kmem_cache_free(sample_cache!, old);
        kfree(scratch);
        filter_pending++;
        tasklet_schedule(filter_tasklet);
        wake_up_interruptible(data_wq); // ok: waking a queue does not sleep
    rearm:
        mod_timer(poll_timer, jiffies + msecs_to_jiffies(poll_ms)); // ok: mod_timer never sleeps
    }

    // Hard-IRQ handler, registered through the alert_handler field.
    private irqreturn_t alert_isr(int irq_no, object? dev_id) {
        if (dev_id is not SensorDev dev)
            return IRQ_NONE;
        if ((dev.reg_status & 0x4) == 0)
            return IRQ_NONE;
        usleep_range(50, 100); // expect: KH1001 (usleep_range sleeps; alert_isr is the hard-IRQ handler stored in alert_handler)
        alerts++;
        var ev = alloc_event(); // ok: the helper allocates with GFP_ATOMIC
        kfree(ev);
        return IRQ_WAKE_THREAD;
    }

    // Reached from the hard-IRQ handler and from the alert thread: GFP_ATOMIC is required here.
    private kptr alloc_event() {
        var ev = kmalloc(32, GFP_ATOMIC); // ok: reachable from hard-IRQ context (alert_isr), so no KH1003
        if (ev != NULL)
            memset(ev, 0, 32);
        return ev;
    }

    // thread_fn of the threaded IRQ: process context.
    private irqreturn_t alert_thread(int irq_no, object? dev_id) {
        var report = kzalloc(256, GFP_ATOMIC); // expect: KH1003 (thread_fn runs in process context with nothing held)
        if (report == NULL)
            return IRQ_HANDLED;
        mutex_lock(bus_mutex); // ok: a thread_fn may sleep
        msleep(5); // ok: process context, only a mutex is held
        var ev = alloc_event();
        if (ev != NULL)
            memcpy(report, ev, 32);
        reg_status &= ~0x4;
        mutex_unlock(bus_mutex);
        kfree(ev);
        kfree(report);
        return IRQ_HANDLED;
    }

    public int recalibrate() {
        mutex_lock(bus_mutex);
        calibrate(); // ok: process context, only a mutex held
        int v = read_sensor(true); // ok: may sleep here, nothing atomic held
        mutex_unlock(bus_mutex);
        return v;
    }

    public int set_poll_interval(uint ms, bool from_atomic_path) {
        if (from_atomic_path)
            spin_lock_bh(sample_lock); // ok: released under the same condition below
        else
            mutex_lock(bus_mutex);
        poll_ms = ms;
        msleep(1); // expect: KH1001 (atomic on the path where from_atomic_path is true: sample_lock held)
        if (from_atomic_path)
            spin_unlock_bh(sample_lock); // ok: same condition tested twice, balanced
        else
            mutex_unlock(bus_mutex);
        return 0;
    }

    public int try_latest(out int temp) {
        temp = 0;
        if (spin_trylock(sample_lock)) {
            var s = hist[(hist_pos + HIST - 1) % HIST];
            if (s != NULL)
                temp = ptr_ref<sample>(s).temp_mc;
        } else {
            misses++;
        }
        spin_unlock(sample_lock); // expect: KH2003 (released on the path where spin_trylock failed: lock not held)
        return 0;
    }

    public int latest(out int temp) {
        temp = 0;
        if (!spin_trylock(sample_lock)) // ok: held only when it returns true, tested here
            return -EBUSY;
        var s = hist[(hist_pos + HIST - 1) % HIST];
        if (s != NULL)
            temp = ptr_ref<sample>(s).temp_mc;
        spin_unlock(sample_lock); // ok: trylock succeeded on this path
        return 0;
    }

    public long history_sum() {
        long sum = 0;
        for (int i = 0; i < HIST; i++) {
            spin_lock_bh(sample_lock); // ok: locked and unlocked in every iteration
            var s = hist[i];
            if (s == NULL) {
                spin_unlock_bh(sample_lock); // ok: matching _bh release before continue
                continue;
            }
            sum += ptr_ref<sample>(s).temp_mc;
            spin_unlock_bh(sample_lock);
        }
        return sum;
    }

    public int get_thresholds(int which, out int value) {
        value = 0;
        read_lock(cfg_lock); // expect: KH2003 (cfg_lock stays read-held on the -EINVAL return)
        if (which != 0 && which != 1)
            return -EINVAL;
        value = which == 0 ? threshold_lo : threshold_hi;
        read_unlock(cfg_lock);
        return 0;
    }

    public int check_value(int v) {
        int ret = 0;
        read_lock(cfg_lock); // ok: the early exit goes through out_unlock
        if (v > threshold_hi) {
            ret = 1;
            goto out_unlock;
        }
        if (v < threshold_lo)
            ret = -1;
    out_unlock:
        read_unlock(cfg_lock);
        return ret;
    }

    public void update_thresholds(int lo, int hi) {
        write_lock_irqsave(cfg_lock, out var flags);
        threshold_lo = lo;
        threshold_hi = hi;
        write_unlock_irq(cfg_lock); // expect: KH2004 (write_lock_irqsave released with write_unlock_irq instead of write_unlock_irqrestore)
    }

    public int set_thresholds(int lo, int hi) {
        write_lock_irqsave(cfg_lock, out var flags);
        threshold_lo = lo;
        threshold_hi = hi;
        write_unlock_irqrestore(cfg_lock, flags); // ok: matching variant
        var log = kmalloc(128, GFP_KERNEL); // ok: allocated after the unlock
        if (log == NULL)
            return -ENOMEM;
        kfree(log);
        return 0;
    }

    public int channel_of(int key) {
        read_lock_bh(cfg_lock);
        int v = channel_map[key & 7];
        read_unlock(cfg_lock); // expect: KH2004 (read_lock_bh released with read_unlock)
        return v;
    }

    public kptr dup_channel_entry(int key) {
        rcu_read_lock();
        var e = kmalloc(16, GFP_KERNEL); // expect: KH1002 (GFP_KERNEL inside an RCU read-side section)
        if (e != NULL)
            ptr_ref<int>(e) = channel_map[key & 7];
        rcu_read_unlock();
        return e;
    }

    public void sync_dual_sensors() {
        local_irq_save(out var outer);
        reg_ctrl |= 0x10;
        local_irq_save(out var inner);
        reg_ctrl |= 0x20;
        local_irq_restore(outer); // expect: KH2002 (crossed: outer restored while inner is still saved)
        local_irq_restore(inner);
    }

    public void latch_registers() {
        local_irq_save(out var outer);
        reg_ctrl |= 0x10;
        local_irq_save(out var inner);
        ndelay(500); // ok: busy wait with irqs off
        reg_ctrl |= 0x20;
        local_irq_restore(inner); // ok: properly nested, innermost first
        local_irq_restore(outer);
    }

    public void reset_fifo() {
        local_irq_save(out var flags);
        reg_ctrl |= 0x40;
        local_irq_enable(); // expect: KH2002 (local_irq_enable inside a local_irq_save region)
        mdelay(2);
        reg_ctrl &= ~0x40;
        local_irq_restore(flags);
    }

    public int poke_register(int reg, int val) {
        local_irq_disable(); // expect: KH2002 (interrupts stay disabled on the -EINVAL return)
        if (reg > 7)
            return -EINVAL;
        reg_ctrl = (reg << 8) | (val & 0xff);
        local_irq_enable();
        return 0;
    }

    public void remove() {
        del_timer_sync(poll_timer);
        tasklet_kill(filter_tasklet);
        free_irq(irq, this);
        for (int i = 0; i < HIST; i++) {
            if (hist[i] != NULL)
                kmem_cache_free(sample_cache!, hist[i]);
            hist[i] = NULL;
        }
        kmem_cache_destroy(sample_cache);
        sample_cache = null;
    }
}

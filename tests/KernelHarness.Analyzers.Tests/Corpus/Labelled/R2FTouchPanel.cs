// Touch-panel controller: threaded IRQ whose primary handler is kept in a field, a gesture tasklet, a debounce timer
// and a firmware work item. Sleeping bus helpers reached two calls deep from atomic callbacks, current in IRQ code, GFP misuse.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R2FTouchPanel;

public struct touch_point
{
    public ushort x;
    public ushort y;
    public ushort pressure;
    public ushort id;
}

public sealed class TouchPanel
{
    private const int MAX_POINTS = 10;
    private const ulong POINT_SIZE = 8;
    private const int STATUS_RESET = 0x80;

    private readonly spinlock_t evt_lock = new();
    private readonly mutex bus_lock = new();
    private readonly tasklet_struct gesture_tasklet = new();
    private readonly timer_list debounce_timer = new();
    private readonly work_struct fw_work = new();
    private readonly wait_queue_head_t fw_wait = new();
    private static readonly percpu<long> touch_events = DEFINE_PER_CPU<long>();
    private static readonly percpu<long> dropped = DEFINE_PER_CPU<long>();
    private readonly irq_handler_t primary_handler;
    private kptr points = NULL;
    private kptr fw_image = NULL;
    private uint irq;
    private int npoints;
    private int hw_status;
    private int calib_offset;
    private bool fw_ready;
    private ulong last_touch;
    private int irq_task_pid;
    private int gesture_task_pid;
    private int opener_pid;
    private string loader_comm = "";
    private string last_owner = "";

    public TouchPanel()
    {
        // Stored now, registered in probe(): still the hard-IRQ (primary) handler.
        primary_handler = touch_hardirq;
    }

    public int probe(uint line)
    {
        irq = line;
        points = kcalloc(MAX_POINTS, POINT_SIZE, GFP_KERNEL);
        if (points == NULL)
            return -ENOMEM;
        tasklet_setup(gesture_tasklet, gesture_decode);
        timer_setup(debounce_timer, debounce_expired, 0);
        INIT_WORK(fw_work, fw_load_work);
        int err = request_threaded_irq(irq, primary_handler, touch_thread, IRQF_ONESHOT | IRQF_TRIGGER_FALLING, "touchpanel", this);
        if (err != 0)
        {
            kfree(points);
            points = NULL;
            return err;
        }
        schedule_work(fw_work);
        return 0;
    }

    // ---- bus helpers: the controller sits on a slow, mutex-protected serial bus ----

    private int bus_write(int reg, int val)
    {
        mutex_lock(bus_lock);
        hw_status = (reg << 8) | val;
        usleep_range(100, 200);
        mutex_unlock(bus_lock);
        return 0;
    }

    private int bus_read_points(kptr dst)
    {
        mutex_lock(bus_lock);
        int n = hw_status & 0xf;
        if (n > MAX_POINTS)
            n = MAX_POINTS;
        memset(dst, 0, (ulong)n * POINT_SIZE);
        mutex_unlock(bus_lock);
        return n;
    }

    private void reset_controller()
    {
        bus_write(0x01, 0x00);
        bus_write(0x02, calib_offset);
    }

    private void settle(bool can_sleep)
    {
        if (can_sleep)
            msleep(2);
        else
            mdelay(2); // ok: busy wait, allowed in atomic context
    }

    private void note_owner()
    {
        if (in_task())
            last_owner = current.comm; // ok: in_task()-guarded read (note_owner is also called from the gesture tasklet)
    }

    private kptr alloc_report(int n, gfp_t gfp)
    {
        return kzalloc((ulong)n * POINT_SIZE + 16, gfp); // ok: gfp is a parameter passed through; the callers are checked
    }

    private int wait_for_firmware()
    {
        return wait_event_interruptible(fw_wait, () => fw_ready);
    }

    // ---- hard-IRQ context: the primary handler, registered through primary_handler ----

    private irqreturn_t touch_hardirq(int irq_no, object? dev_id)
    {
        if (dev_id is not TouchPanel ts || ts.hw_status == 0)
            return IRQ_NONE;
        this_cpu_inc(touch_events);
        irq_task_pid = current.pid; // expect: KH4003 (primary handler stored in primary_handler runs in hard-IRQ context: current is the interrupted task)
        if ((hw_status & STATUS_RESET) != 0)
        {
            reset_controller(); // expect: KH1001 (reset_controller -> bus_write -> mutex_lock, from the hard-IRQ primary handler)
            return IRQ_HANDLED;
        }
        settle(false); // ok: the constant false rules out settle's msleep branch
        var probe_buf = alloc_report(1, GFP_ATOMIC); // ok: GFP_ATOMIC passed to the allocating helper in hard-IRQ context
        if (probe_buf == NULL)
        {
            this_cpu_inc(dropped);
            return IRQ_HANDLED;
        }
        kfree(probe_buf);
        last_touch = jiffies;
        return IRQ_WAKE_THREAD;
    }

    // ---- process context: thread_fn of request_threaded_irq runs in its irq/N kernel thread ----

    private irqreturn_t touch_thread(int irq_no, object? dev_id)
    {
        var report = alloc_report(MAX_POINTS, GFP_KERNEL); // ok: thread_fn is process context, a blocking allocation is fine
        if (report == NULL)
            return IRQ_HANDLED;
        int n = bus_read_points(report); // ok: the helper's mutex_lock may sleep, thread_fn is process context
        settle(true); // ok: msleep branch taken in process context with nothing held
        irq_task_pid = current.pid; // ok: thread_fn runs in process context, current is the irq thread
        var shadow = kmalloc(64, GFP_ATOMIC); // expect: KH1003 (thread_fn is process context and nothing is held here)
        if (shadow != NULL)
        {
            memcpy(shadow, report, 64);
            kfree(shadow);
        }
        spin_lock_irqsave(evt_lock, out ulong flags);
        memcpy(points, report, (ulong)n * POINT_SIZE);
        npoints = n;
        var evt = kmalloc(32, GFP_ATOMIC); // ok: evt_lock is held with irqs off, GFP_ATOMIC is required here
        spin_unlock_irqrestore(evt_lock, flags);
        if (evt != NULL)
        {
            memset(evt, 0, 32);
            kfree(evt);
        }
        msleep(1); // ok: evt_lock was dropped on every path before the sleep
        kfree(report);
        mod_timer(debounce_timer, jiffies + msecs_to_jiffies(20));
        return IRQ_HANDLED;
    }

    // ---- softirq context: gesture tasklet (method group) ----

    private void gesture_decode(tasklet_struct t)
    {
        spin_lock(evt_lock);
        int n = npoints;
        kptr old = fw_ready ? fw_image : NULL;
        if (old != NULL)
            fw_image = NULL;
        spin_unlock(evt_lock);
        vfree(old); // ok: in softirq context Linux defers the vfree, it does not sleep
        var g = alloc_report(n, GFP_KERNEL); // expect: KH1002 (blocking GFP_KERNEL passed to the allocating helper from a tasklet, softirq context)
        if (g == NULL)
            return;
        gesture_task_pid = current.pid; // expect: KH4003 (tasklet callback runs in softirq context: current is whatever task was interrupted)
        note_owner();
        memcpy(g, points, (ulong)n * POINT_SIZE);
        kfree(g);
    }

    // ---- softirq context: debounce timer (method group) ----

    private void debounce_expired(timer_list t)
    {
        if (time_before(jiffies, last_touch + msecs_to_jiffies(10)))
        {
            mod_timer(debounce_timer, last_touch + msecs_to_jiffies(10));
            return;
        }
        int cpu = get_cpu(); // expect: KH2001 (get_cpu not undone on the npoints == 0 return)
        if (npoints == 0)
            return;
        per_cpu(touch_events, cpu) += npoints;
        put_cpu();
        if (!fw_ready)
            wait_for_firmware(); // expect: KH1001 (wait_for_firmware -> wait_event_interruptible, from a timer callback in softirq context)
        tasklet_schedule(gesture_tasklet);
    }

    // ---- process context: firmware work item ----

    private void fw_load_work(work_struct w)
    {
        loader_comm = current.comm; // ok: a work item runs in process context (a kworker)
        var img = vmalloc(64 * PAGE_SIZE);
        if (img == NULL)
            return;
        reset_controller(); // ok: same helper as in touch_hardirq, but a work item may sleep
        var hdr = kmalloc(128, GFP_ATOMIC); // expect: KH1003 (work item, process context with nothing held)
        if (hdr == NULL)
        {
            vfree(img);
            return;
        }
        memset(hdr, 0, 128);
        spin_lock_bh(evt_lock);
        fw_image = img;
        spin_unlock_bh(evt_lock);
        kfree(hdr);
        bus_write(0x10, 1); // ok: evt_lock was released before the sleeping bus write
        fw_ready = true;
        wake_up(fw_wait);
    }

    // ---- process-context entry points (file operations / ioctls) ----

    public int open()
    {
        opener_pid = current.pid; // ok: open() runs in process context on behalf of the caller
        int err = wait_for_firmware(); // ok: process context, may sleep
        if (err != 0)
            return err;
        note_owner();
        return 0;
    }

    public int set_calibration(int offset)
    {
        local_irq_disable();
        calib_offset = offset;
        settle(false); // ok: constant false, only mdelay runs with irqs off
        local_irq_enable();
        reset_controller(); // ok: interrupts are enabled again before the sleeping helper
        return 0;
    }

    public int recalibrate_now(int offset)
    {
        spin_lock_irqsave(evt_lock, out ulong flags);
        calib_offset = offset;
        settle(true); // expect: KH1001 (settle(true) takes the msleep branch while evt_lock is held with irqs off)
        spin_unlock_irqrestore(evt_lock, flags);
        return 0;
    }

    public long read_points(ulong ubuf, ulong len)
    {
        var snap = kmalloc(MAX_POINTS * POINT_SIZE, GFP_KERNEL); // ok: allocated before evt_lock is taken
        if (snap == NULL)
            return -ENOMEM;
        spin_lock_irq(evt_lock);
        ulong n = (ulong)npoints * POINT_SIZE;
        memcpy(snap, points, n);
        spin_unlock_irq(evt_lock);
        if (n > len)
            n = len;
        ulong left = copy_to_user(ubuf, snap, n); // ok: copied after evt_lock is dropped
        kfree(snap);
        return left != 0 ? -EFAULT : (long)n;
    }

    public int account_drop(int how_many)
    {
        int err = 0;
        int cpu = get_cpu(); // ok: every path leaves through the shared put: label, which calls put_cpu
        if (how_many <= 0)
        {
            err = -EINVAL;
            goto put;
        }
        per_cpu(dropped, cpu) += how_many;
    put:
        put_cpu();
        return err;
    }

    public int drain_dropped(int rounds)
    {
        int drained = 0;
        for (int i = 0; i < rounds; i++)
        {
            int cpu = get_cpu(); // ok: put_cpu runs before the break and at the end of every pass
            long d = per_cpu(dropped, cpu);
            if (d == 0)
            {
                put_cpu();
                break;
            }
            per_cpu(dropped, cpu) = d - 1;
            put_cpu();
            drained++;
        }
        return drained;
    }

    public long events_total()
    {
        long total = 0;
        preempt_disable(); // ok: re-enabled on the only exit path
        for (int cpu = 0; cpu < nr_cpu_ids; cpu++)
            total += per_cpu(touch_events, cpu);
        preempt_enable();
        return total;
    }

    public void remove()
    {
        free_irq(irq, this);
        del_timer_sync(debounce_timer);
        tasklet_kill(gesture_tasklet);
        cancel_work_sync(fw_work);
        vfree(fw_image);
        fw_image = NULL;
        kfree(points);
        points = NULL;
    }
}

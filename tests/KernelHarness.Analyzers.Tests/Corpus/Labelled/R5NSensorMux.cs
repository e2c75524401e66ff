// A sensor multiplexer: per-sensor sampling timers that re-arm themselves, per-sensor report work and alert tasklets, a calibration kthread.
// Holds: raw jiffies compares on per-sensor deadlines, current read from timer and tasklet callbacks, a mutex reached from a timer, init_mm tests.
using System.Collections.Generic;
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R5NSensorMux;

public sealed class Sensor
{
    public readonly int id;
    public readonly timer_list sample_timer = new();
    public readonly work_struct report_work = new();
    public readonly tasklet_struct alert_tasklet = new();
    public readonly wait_queue_head_t data_wq = new();
    public ulong period;
    public ulong stale_after;
    public ulong next_sample;
    public ulong last_seen;
    public ulong last_report;
    public int value;
    public int threshold = 1000;
    public int missed;
    public bool fresh;
    public bool active;
    public string owner_comm = "";
    public int alert_pid;
    public int config_pid;
    public ulong reported_vm;

    public Sensor(int id, uint period_ms)
    {
        this.id = id;
        period = msecs_to_jiffies(period_ms);
        stale_after = 5 * period;
    }
}

public sealed class SensorMux
{
    private const uint SENSOR_ALERT_IRQ = 57;
    private static readonly percpu<long> tick_count = DEFINE_PER_CPU<long>();
    private static readonly percpu<long> fifo_count = DEFINE_PER_CPU<long>();
    private readonly List<Sensor> sensors = new();
    private readonly spinlock_t mux_lock = new();
    private readonly mutex hist_lock = new();
    private readonly int[] regs = new int[16];
    private readonly int[] history = new int[64];
    private int hist_pos;
    private uint alert_reg;
    private uint tick_irq;
    private uint fifo_irq;
    private task_struct? calib_task;
    private int owner_users;

    public int probe(int count, uint tick_line, uint fifo_line)
    {
        tick_irq = tick_line;
        fifo_irq = fifo_line;
        for (int i = 0; i < count; i++)
        {
            var s = new Sensor(i, 100);
            timer_setup(s.sample_timer, sample_timer_fn, 0);
            INIT_WORK(s.report_work, report_fn);
            tasklet_setup(s.alert_tasklet, t =>
            {
                s.alert_pid = current.pid; // expect: KH4003 (the tasklet lambda runs in softirq context)
                raise_alert(s);
            });
            sensors.Add(s);
        }
        int err = request_irq(SENSOR_ALERT_IRQ, alert_isr, IRQF_SHARED | IRQF_TRIGGER_LOW, "sensor-alert", null); // expect: KH4001 (IRQF_SHARED with a null dev_id)
        if (err != 0)
            return err;
        err = request_irq(tick_irq, tick_isr, IRQF_SHARED, "sensor-tick", this); // expect: KH4004 (tick_isr returns IRQ_HANDLED on every path and reads no device state)
        if (err != 0)
        {
            free_irq(SENSOR_ALERT_IRQ, null); // ok: KH4002 same (null) dev_id as the request
            return err;
        }
        err = request_irq(fifo_irq, fifo_isr, IRQF_TRIGGER_HIGH, "sensor-fifo", this); // ok: KH4004 not IRQF_SHARED: an exclusive line may claim every interrupt
        if (err != 0)
        {
            free_irq(tick_irq, this); // ok: KH4002 same dev_id (this) as the request
            free_irq(SENSOR_ALERT_IRQ, null); // ok: KH4002 same (null) dev_id as the request
            return err;
        }
        calib_task = kthread_run(d =>
        {
            owner_users = current.mm.mm_users; // expect: KH6002 (kthread_run lambda: a kernel thread has mm == null; no null check)
            while (!kthread_should_stop())
            {
                calibrate_all();
                msleep(500);
            }
            return 0;
        }, this, "sensor-calib");
        foreach (var s in sensors)
            start_sensor(s);
        return 0;
    }

    private void start_sensor(Sensor s)
    {
        s.active = true;
        s.last_report = jiffies;
        s.next_sample = jiffies + s.period;
        mod_timer(s.sample_timer, s.next_sample);
    }

    private irqreturn_t alert_isr(int irq, object? dev_id)
    {
        if (alert_reg == 0)
            return IRQ_NONE;
        int which = (int)(alert_reg & 0xF);
        alert_reg = 0;
        if (which < sensors.Count)
            tasklet_schedule(sensors[which].alert_tasklet);
        return IRQ_HANDLED;
    }

    private static irqreturn_t tick_isr(int irq, object? dev_id)
    {
        this_cpu_inc(tick_count);
        return IRQ_HANDLED;
    }

    private static irqreturn_t fifo_isr(int irq, object? dev_id)
    {
        this_cpu_inc(fifo_count);
        return IRQ_HANDLED;
    }

    private Sensor? find_by_timer(timer_list t)
    {
        foreach (var s in sensors)
            if (s.sample_timer == t)
                return s;
        return null;
    }

    private Sensor? find_by_work(work_struct w)
    {
        foreach (var s in sensors)
            if (s.report_work == w)
                return s;
        return null;
    }

    // Timer callback (softirq): take a sample and re-arm on the sensor's own schedule.
    private void sample_timer_fn(timer_list t)
    {
        var s = find_by_timer(t);
        if (s == null || !s.active)
            return;
        spin_lock(mux_lock);
        s.value = regs[s.id % regs.Length];
        s.last_seen = jiffies;
        s.fresh = true;
        spin_unlock(mux_lock);
        s.owner_comm = current.comm; // expect: KH4003 (timer callback: current is the interrupted task)
        update_history(s); // expect: KH1001 (update_history() takes hist_lock, a mutex, from a timer callback in softirq)
        wake_up_interruptible(s.data_wq);
        if (s.value > s.threshold)
            tasklet_schedule(s.alert_tasklet);
        if (s.last_seen > s.last_report) // expect: KH5001 (raw > between two jiffies timestamps)
            schedule_work(s.report_work);
        s.next_sample += s.period;
        if (s.next_sample <= jiffies) // expect: KH5001 (raw <= between the re-armed deadline and jiffies)
        {
            s.missed++;
            s.next_sample = jiffies + s.period;
        }
        mod_timer(s.sample_timer, s.next_sample);
    }

    private void update_history(Sensor s)
    {
        mutex_lock(hist_lock);
        history[hist_pos] = s.value;
        hist_pos = (hist_pos + 1) % history.Length;
        mutex_unlock(hist_lock);
    }

    // Work item: process context.
    private void report_fn(work_struct w)
    {
        var s = find_by_work(w);
        if (s == null)
            return;
        update_history(s); // ok: KH1001 a work item runs in process context, the mutex may sleep
        s.last_report = jiffies;
        if (current.mm == null)
            s.reported_vm = 0;
        else
            s.reported_vm = current.mm.total_vm; // ok: KH6002 guarded by the current.mm == null test above
    }

    // Softirq (alert tasklet).
    private void raise_alert(Sensor s)
    {
        var ev = kzalloc(32, GFP_ATOMIC); // ok: KH1003 reached from the alert tasklet (softirq)
        if (ev == NULL)
            return;
        ptr_ref<int>(ev) = s.value;
        pr_warn("sensor " + s.id + ": threshold crossed");
        kfree(ev);
    }

    private static bool overdue(Sensor s) => s.last_seen + 3 * s.period < jiffies; // expect: KH5001 (raw < between a jiffies time plus a duration and jiffies)

    // Kernel thread (calibration).
    private void calibrate_all()
    {
        foreach (var s in sensors)
        {
            if (overdue(s))
                s.missed++;
            if (jiffies - s.last_seen >= s.stale_after) // ok: KH5001 elapsed time (a difference) compared with a duration
                s.fresh = false;
            if (time_after_eq(jiffies, s.last_report + 60 * HZ)) // ok: KH5001 time_after_eq() is wrap-safe
                schedule_work(s.report_work);
        }
    }

    private static bool from_kernel_thread() => current.mm == init_mm; // expect: KH6001 (init_mm is never a task's mm; test current.mm == null)

    public int configure(int id, uint period_ms)
    {
        if (from_kernel_thread())
            return -EPERM;
        if (id < 0 || id >= sensors.Count)
            return -EINVAL;
        var s = sensors[id];
        spin_lock_irqsave(mux_lock, out ulong flags);
        s.period = msecs_to_jiffies(period_ms);
        if (s.period < HZ / 50) // ok: KH5001 period is a duration compared with a constant
            s.period = HZ / 50;
        s.config_pid = current.pid; // ok: KH4003 irqs disabled in process context: current is still the caller
        spin_unlock_irqrestore(mux_lock, flags);
        return 0;
    }

    private bool has_fresh(Sensor s)
    {
        spin_lock_irqsave(mux_lock, out ulong flags);
        bool f = s.fresh;
        spin_unlock_irqrestore(mux_lock, flags);
        return f;
    }

    // read(): block for a fresh sample.
    public int read_value(int id)
    {
        var s = sensors[id];
        int ret = wait_event_interruptible(s.data_wq, () => has_fresh(s)); // ok: KH5002 wait_event_interruptible loops on has_fresh() itself
        if (ret != 0)
            return ret;
        s.fresh = false;
        return s.value;
    }

    public int wait_fresh(int id)
    {
        var s = sensors[id];
        var wait = DEFINE_WAIT();
        do
        {
            prepare_to_wait(s.data_wq, wait, TASK_INTERRUPTIBLE);
            if (has_fresh(s))
                break;
            schedule(); // ok: KH5002 has_fresh() is re-tested on every pass of the do/while
        } while (!signal_pending(current));
        finish_wait(s.data_wq, wait);
        return has_fresh(s) ? 0 : -EINTR;
    }

    // Skip n samples by counting wake-ups.
    public void skip_samples(int id, int n)
    {
        var s = sensors[id];
        var wait = DEFINE_WAIT();
        int tries = 0;
        while (tries++ < n)
        {
            prepare_to_wait(s.data_wq, wait, TASK_INTERRUPTIBLE);
            schedule(); // expect: KH5002 (the loop counts wake-ups and never re-tests has_fresh(s))
        }
        finish_wait(s.data_wq, wait);
    }

    public int mmap_samples(mm_struct mm, ulong addr)
    {
        if (mm == init_mm) // ok: KH6001 an mm_struct parameter compared with init_mm (not a task's mm)
            return -EINVAL;
        mmap_read_lock(mm);
        var vma = find_vma(mm, addr);
        int ret = vma == null ? -EFAULT : 0;
        mmap_read_unlock(mm);
        return ret;
    }

    public void remove()
    {
        foreach (var s in sensors)
        {
            s.active = false;
            del_timer_sync(s.sample_timer);
            cancel_work_sync(s.report_work);
            tasklet_kill(s.alert_tasklet);
        }
        if (calib_task != null)
            kthread_stop(calib_task);
        free_irq(SENSOR_ALERT_IRQ, this); // expect: KH4002 (SENSOR_ALERT_IRQ is requested only with a null dev_id)
        free_irq(tick_irq, this); // ok: KH4002 same dev_id (this) as the request
        free_irq(fifo_irq, this); // ok: KH4002 same dev_id (this) as the request
    }
}

// An I2C sensor hub (accelerometer, gyro, light, magnetometer, temperature, step counter) by a student who reached for .NET APIs.
// Mistakes: System.* APIs outside the allowlist, null cookies on shared lines, shared handlers claiming every interrupt, free_irq with the wrong cookie.
using System.Collections.Generic;
using System.Linq;
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.SensorHubApis;

public sealed class Sensor
{
    public const uint INT_DRDY = 0x1;
    public readonly string name;
    public readonly List<int> samples = new(); // ok: KH9001 System.Collections.Generic is allowlisted
    public uint int_status;
    public int fifo_count;

    public Sensor(string name)
    {
        this.name = name;
    }

    public bool fifo_has_data() => (int_status & INT_DRDY) != 0 && fifo_count > 0;

    public int pop()
    {
        fifo_count--;
        if (fifo_count == 0)
            int_status &= ~INT_DRDY;
        return 40 + fifo_count;
    }
}

public sealed class SensorHub
{
    private const uint TEMP_IRQ = 19;
    private const ulong HUB_IRQ_FLAGS = IRQF_SHARED | IRQF_TRIGGER_LOW;

    private readonly Sensor accel = new("accel");
    private readonly Sensor gyro = new("gyro");
    private readonly Sensor als = new("als");
    private readonly Sensor temp = new("temp");
    private readonly Sensor step = new("step");
    private readonly tasklet_struct fusion_tasklet = new();
    private readonly wait_queue_head_t data_wq = new();
    private readonly mutex cfg_lock = new();
    private readonly Dictionary<string, int> calib = new(); // ok: KH9001 collections are allowlisted
    private static ulong irq_total;
    private uint hub_irq;
    private uint accel_irq;
    private uint gyro_irq;
    private uint als_irq;
    private uint mag_irq;
    private uint wake_irq;
    private uint step_irq;
    private task_struct? poller;
    private int fusion_pid;
    private ulong last_fusion;
    private string calib_owner = "";

    [System.Runtime.InteropServices.DllImport("libc")] private static extern int usleep(uint usec); // expect: KH9001 (P/Invoke declaration)

    public int probe(uint hub_line, uint accel_line, uint gyro_line, uint als_line, uint mag_line, uint wake_line, uint step_line)
    {
        hub_irq = hub_line;
        accel_irq = accel_line;
        gyro_irq = gyro_line;
        als_irq = als_line;
        mag_irq = mag_line;
        wake_irq = wake_line;
        step_irq = step_line;
        System.Console.WriteLine($"sensorhub: probing, hub irq {hub_irq}"); // expect: KH9001 (Console is refused; printk is the kernel log)
        pr_info($"sensorhub: probing, hub irq {hub_irq}\n"); // ok: KH9001 kernel API with ordinary string interpolation
        System.Diagnostics.Process.Start("modprobe", "i2c-dev"); // expect: KH9001 (starting a process)
        tasklet_setup(fusion_tasklet, t => fusion_bh());

        int err = request_irq(hub_irq, hub_isr, IRQF_SHARED, "sensorhub", this); // ok: KH4001/KH4004 non-null cookie, hub_isr asks the hub via hub_pending()
        if (err != 0)
            return err;
        request_irq(accel_irq, accel_isr, HUB_IRQ_FLAGS, "accel", null); // expect: KH4001 (HUB_IRQ_FLAGS contains IRQF_SHARED, dev_id null)
        request_irq(gyro_irq, gyro_isr, IRQF_TRIGGER_FALLING | IRQF_SHARED, "gyro", null); // expect: KH4001 (IRQF_SHARED with a null dev_id)
        request_threaded_irq(als_irq, null, als_thread, IRQF_SHARED | IRQF_ONESHOT, "als", null); // expect: KH4001 (shared threaded irq with a null dev_id)
        request_irq(mag_irq, (n, d) => IRQ_HANDLED, IRQF_SHARED, "mag", null); // expect: KH4001, KH4004 (null cookie on a shared line; the lambda claims every interrupt)
        request_irq(TEMP_IRQ, temp_isr, IRQF_SHARED, "temp", temp); // expect: KH4004 (temp_isr returns IRQ_HANDLED on every path, never reads temp or dev_id)
        request_irq(wake_irq, hub_wake_isr, IRQF_SHARED | IRQF_TRIGGER_RISING, "hub-wake", this); // expect: KH4004 (static handler, both returns IRQ_HANDLED, no device read)
        request_irq(hub_irq, fifo_wm_isr, IRQF_SHARED, "hub-fifo", step); // expect: KH4004 (expression-bodied handler always IRQ_HANDLED on a shared line)
        request_threaded_irq(step_irq, step_hardirq, step_thread, IRQF_SHARED | IRQF_ONESHOT, "step", this); // ok: KH4001/KH4004 non-null cookie; the primary returns IRQ_WAKE_THREAD, and the thread_fn is not a hard-IRQ handler

        poller = kthread_run(poll_thread, this, "hub-poll"); // ok: KH9001 kthread_run is the kernel's thread API
        return 0;
    }

    private bool hub_pending() => accel.fifo_has_data() || gyro.fifo_has_data() || als.fifo_has_data();

    // Hard IRQ, shared: asks the hub (a helper on the dev_id object, this).
    private irqreturn_t hub_isr(int irq_no, object? dev_id)
    {
        if (!hub_pending())
            return IRQ_NONE;
        irq_total++;
        tasklet_schedule(fusion_tasklet);
        return IRQ_HANDLED;
    }

    private irqreturn_t accel_isr(int irq_no, object? dev_id)
    {
        if (!accel.fifo_has_data())
            return IRQ_NONE;
        accel.samples.Add(accel.pop());
        return IRQ_HANDLED;
    }

    private irqreturn_t gyro_isr(int irq_no, object? dev_id)
    {
        if (!gyro.fifo_has_data())
            return IRQ_NONE;
        gyro.samples.Add(gyro.pop());
        return IRQ_HANDLED;
    }

    private irqreturn_t als_thread(int irq_no, object? dev_id)
    {
        if (!als.fifo_has_data())
            return IRQ_NONE;
        als.samples.Add(als.pop());
        return IRQ_HANDLED;
    }

    private irqreturn_t temp_isr(int irq_no, object? dev_id)
    {
        irq_total++;
        tasklet_schedule(fusion_tasklet);
        return IRQ_HANDLED;
    }

    private static irqreturn_t hub_wake_isr(int irq_no, object? dev_id)
    {
        if (irq_no == 0)
        {
            pr_warn("sensorhub: wake on irq 0?\n");
            return IRQ_HANDLED;
        }
        irq_total++;
        return IRQ_HANDLED;
    }

    private static irqreturn_t fifo_wm_isr(int irq_no, object? dev_id) => IRQ_HANDLED;

    private irqreturn_t step_hardirq(int irq_no, object? dev_id) => IRQ_WAKE_THREAD;

    private irqreturn_t step_thread(int irq_no, object? dev_id)
    {
        if (dev_id is not SensorHub hub || !hub.step.fifo_has_data())
            return IRQ_NONE;
        hub.step.samples.Add(hub.step.pop());
        return IRQ_HANDLED;
    }

    // Softirq (tasklet, registered as a lambda): sensor fusion.
    private void fusion_bh()
    {
        if (jiffies < last_fusion + HZ / 50) // expect: KH5001 (raw < between jiffies and last_fusion + HZ/50)
            return;
        last_fusion = jiffies;
        fusion_pid = current.pid; // expect: KH4003 (tasklet callback, softirq context)
        wake_up_interruptible(data_wq);
    }

    // Kernel thread: slow polling of the temperature sensor.
    private int poll_thread(object? data)
    {
        while (!kthread_should_stop())
        {
            wait_event_interruptible_timeout(data_wq, () => temp.fifo_has_data() || kthread_should_stop(), (long)HZ); // ok: KH5002 wait_event* re-tests the condition
            if (temp.fifo_has_data())
                temp.samples.Add(temp.pop());
        }
        return 0;
    }

    // Process context: blocks until the sensor has data, but the loop only counts retries.
    public int wait_data_ready(Sensor s)
    {
        var wait = DEFINE_WAIT();
        int retries = 2;
        do
        {
            prepare_to_wait(data_wq, wait, TASK_INTERRUPTIBLE);
            schedule(); // expect: KH5002 (do/while counts its own retries, never re-tests s.fifo_has_data())
        } while (retries-- > 0);
        finish_wait(data_wq, wait);
        return s.fifo_has_data() ? 0 : -EAGAIN;
    }

    // Process context: calibration, with the file read a student would reach for.
    public int load_calibration()
    {
        mutex_lock(cfg_lock);
        calib_owner = current.comm; // ok: KH4003 sysfs store, process context
        string[] lines = System.IO.File.ReadAllLines("/etc/sensorhub.conf"); // expect: KH9001 (file I/O)
        foreach (var line in lines)
        {
            var parts = line.Split('=');
            if (parts.Length == 2 && int.TryParse(parts[1], out int v))
                calib[parts[0].Trim()] = System.Math.Clamp(v, -2048, 2047); // ok: KH9001 string, int and System.Math are allowlisted core types
        }
        mutex_unlock(cfg_lock);
        if (!calib.ContainsKey("accel.x"))
            System.Environment.FailFast("sensorhub: calibration table corrupt"); // expect: KH9001 (Environment.FailFast; use BUG_ON/WARN_ON)
        return 0;
    }

    public void start_recalibration()
    {
        var t = new System.Threading.Thread(recalibrate_all); // expect: KH9001 (a .NET thread instead of kthread_run)
        t.Start(); // expect: KH9001 (Thread.Start)
        System.Threading.Tasks.Task.Run(() => recalibrate_all()); // expect: KH9001 (Task.Run runs on the .NET thread pool)
    }

    private void recalibrate_all()
    {
        mutex_lock(cfg_lock);
        foreach (var s in new[] { accel, gyro, als })
            s.samples.Clear();
        mutex_unlock(cfg_lock);
    }

    public void self_test()
    {
        typeof(SensorHub).GetMethod("recalibrate_all")?.Invoke(this, null); // expect: KH9001 (reflection)
        nint scratch = System.Runtime.InteropServices.Marshal.AllocHGlobal(64); // expect: KH9001 (Marshal)
        System.Runtime.InteropServices.Marshal.FreeHGlobal(scratch); // expect: KH9001 (Marshal)
    }

    // Process context: a debugfs dump built in a kernel buffer.
    public int dump(out string text)
    {
        text = "";
        kptr buf = kzalloc(64, GFP_KERNEL);
        if (buf == NULL)
            return -ENOMEM;
        var span = ptr_span(buf, 64); // ok: KH9001 Span<byte> from the kernel accessor
        span[0] = (byte)accel.samples.Count;
        var sb = new System.Text.StringBuilder(); // ok: KH9001 System.Text is allowlisted
        sb.Append(string.Join(",", accel.samples)); // ok: KH9001 string.Join over a List<int>
        double mean = accel.samples.Count > 0 ? accel.samples.Average() : 0; // ok: KH9001 LINQ is allowlisted
        sb.Append($" mean={mean:F1} first={span[0]}");
        text = sb.ToString();
        kfree(buf);
        return 0;
    }

    public void remove()
    {
        if (poller != null)
            kthread_stop(poller);
        free_irq(step_irq, this); // ok: KH4002 same this as the request
        free_irq(hub_irq, step); // ok: KH4002 hub_irq has two sharers, this and step; this matches the second
        free_irq(wake_irq, this); // ok: KH4002 same this as the request
        free_irq(TEMP_IRQ, temp); // ok: KH4002 constant irq with the same field
        free_irq(mag_irq, null); // ok: KH4002 same null expression as the request
        free_irq(als_irq, als); // expect: KH4002 (als_irq is requested only with null as dev_id)
        free_irq(gyro_irq, gyro); // expect: KH4002 (gyro_irq is requested only with null as dev_id)
        free_irq(accel_irq, null); // ok: KH4002 same null expression as the request
        free_irq(hub_irq, this); // ok: KH4002 matches the first sharer's cookie
        tasklet_kill(fusion_tasklet);
    }
}

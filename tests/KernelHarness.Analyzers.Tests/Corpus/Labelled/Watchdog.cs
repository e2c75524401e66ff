// A software/hardware watchdog: a kernel timer checks that userspace pings within the timeout, a pretimeout IRQ warns early.
// Mistakes: raw jiffies comparisons (locals, fields, jiffies + HZ), null dev_id on a shared line, free_irq with the wrong cookie, `current` in the timer.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.Watchdog;

public sealed class WdtHw
{
    public const uint ST_PRETIMEOUT = 0x1;
    public const uint ST_EXPIRED = 0x2;
    public uint status;
    public uint ctrl;

    public bool pretimeout_pending() => (status & ST_PRETIMEOUT) != 0;

    public void ack() => status = 0;
}

public sealed class Watchdog
{
    private const uint WDT_PRE_IRQ = 11;
    private const uint MIN_PING_MS = 500;

    private readonly WdtHw hw = new();
    private readonly timer_list wdt_timer = new();
    private readonly timer_list heartbeat = new();
    private readonly work_struct reboot_work = new();
    private readonly spinlock_t wdt_lock = new();
    private ulong last_ping;
    private ulong deadline;
    private ulong pretimeout_at;
    private ulong next_allowed_ping;
    private ulong timeout_ticks;
    private ulong pretimeout_ticks;
    private uint alarm_irq;
    private uint status_irq;
    private uint button_irq;
    private bool armed;
    private bool expired;
    private int pinger_pid;
    private int expired_under;
    private string reboot_comm = "";

    public int start(uint timeout_ms, uint alarm_line, uint status_line)
    {
        timeout_ticks = msecs_to_jiffies(timeout_ms);
        if (timeout_ticks > 60 * HZ) // ok: KH5001 a duration compared with a duration, no jiffies time involved
            timeout_ticks = 60 * HZ;
        pretimeout_ticks = timeout_ticks / 4;
        alarm_irq = alarm_line;
        status_irq = status_line;

        timer_setup(wdt_timer, wdt_timer_fn, 0);
        timer_setup(heartbeat, t => heartbeat_fn(), 0);
        INIT_WORK(reboot_work, w => emergency_reboot());

        int err = request_irq(WDT_PRE_IRQ, wdt_pre_isr, IRQF_SHARED | IRQF_TRIGGER_RISING, "wdt-pre", null); // expect: KH4001 (IRQF_SHARED with a null dev_id)
        if (err != 0)
            return err;
        err = request_irq(alarm_irq, wdt_alarm_isr, IRQF_SHARED, "wdt-alarm", hw); // ok: KH4001/KH4004 non-null cookie, handler reads hw.status
        if (err != 0)
        {
            free_irq(WDT_PRE_IRQ, null); // ok: KH4002 the pretimeout irq was requested with null (the KH4001 bug is at the request)
            return err;
        }
        err = request_irq(status_irq, (n, d) => IRQ_HANDLED, IRQF_SHARED, "wdt-status", this); // expect: KH4004 (lambda on a shared line returns IRQ_HANDLED unconditionally, reads no device state)
        if (err != 0)
        {
            free_irq(alarm_irq, hw); // ok: KH4002 same field as the request
            free_irq(WDT_PRE_IRQ, null); // ok: KH4002 same (null) expression as the request
            return err;
        }

        last_ping = jiffies;
        deadline = jiffies + timeout_ticks;
        pretimeout_at = deadline - pretimeout_ticks;
        next_allowed_ping = jiffies + msecs_to_jiffies(MIN_PING_MS);
        armed = true;
        mod_timer(wdt_timer, jiffies + HZ);
        mod_timer(heartbeat, jiffies + 10 * HZ);
        return 0;
    }

    // Hard IRQ on a shared line, but the cookie is null: the handler can never identify its device.
    private static irqreturn_t wdt_pre_isr(int irq_no, object? dev_id)
    {
        if (dev_id is not WdtHw w || !w.pretimeout_pending())
            return IRQ_NONE;
        w.ack();
        return IRQ_HANDLED;
    }

    // Hard IRQ on a shared line: asks the hardware first.
    private irqreturn_t wdt_alarm_isr(int irq_no, object? dev_id)
    {
        if (dev_id is not WdtHw w || (w.status & WdtHw.ST_EXPIRED) == 0)
            return IRQ_NONE;
        w.ack();
        expired = true;
        schedule_work(reboot_work);
        return IRQ_HANDLED;
    }

    // Hard IRQ on a dedicated line for the front-panel reset button.
    private irqreturn_t button_isr(int irq_no, object? dev_id)
    {
        schedule_work(reboot_work);
        return IRQ_HANDLED;
    }

    public int enable_reset_button(uint line)
    {
        button_irq = line;
        return request_irq(button_irq, button_isr, IRQF_TRIGGER_FALLING, "wdt-button", null); // ok: KH4001/KH4004 dedicated (not shared) line: a null cookie and an unconditional IRQ_HANDLED are both allowed
    }

    public void disable_reset_button()
    {
        free_irq(button_irq, null); // ok: KH4002 same null cookie as the request
    }

    // Softirq (timer): the core of the watchdog.
    private void wdt_timer_fn(timer_list t)
    {
        if (!armed)
            return;
        spin_lock(wdt_lock);
        bool late = jiffies >= deadline; // expect: KH5001 (raw >= between jiffies and the deadline field set to jiffies + timeout)
        bool pre = time_after_eq(jiffies, pretimeout_at); // ok: KH5001 time_after_eq is wrap-safe
        spin_unlock(wdt_lock);
        if (late)
        {
            expired = true;
            expired_under = current.pid; // expect: KH4003 (timer callback runs in softirq context)
            schedule_work(reboot_work);
            return;
        }
        if (pre)
            pr_warn("wdt: pretimeout, reboot imminent\n");
        if (jiffies > wdt_timer.expires + HZ) // expect: KH5001 (raw > between jiffies and the timer's expiry time)
            pr_warn("wdt: timer ran late\n");
        mod_timer(wdt_timer, jiffies + HZ);
    }

    // Softirq (timer) registered as a lambda: checks that pings keep coming.
    private void heartbeat_fn()
    {
        if (jiffies - last_ping > 2 * timeout_ticks) // ok: KH5001 difference of two times compared with a duration
            pr_warn($"wdt: no ping from pid {pinger_pid}\n");
        if (in_task())
            pinger_pid = current.pid; // ok: KH4003 read guarded by in_task()
        mod_timer(heartbeat, jiffies + 10 * HZ);
    }

    // Process context (work item).
    private void emergency_reboot()
    {
        reboot_comm = current.comm; // ok: KH4003 a work item runs in process context
        msleep(100);
        hw.ctrl = 0xdead;
        pr_err($"wdt: rebooting, last handled by {reboot_comm}\n");
    }

    // Process context: the ioctl(WDIOC_KEEPALIVE) path.
    public int ping()
    {
        ulong now = jiffies;
        if (now < next_allowed_ping) // expect: KH5001 (raw < between a local holding jiffies and a field set to jiffies + MIN_PING)
            return -EAGAIN;
        if (time_before(now, last_ping + msecs_to_jiffies(MIN_PING_MS))) // ok: KH5001 time_before is wrap-safe
            return -EAGAIN;
        spin_lock_bh(wdt_lock);
        last_ping = now;
        deadline = now + timeout_ticks;
        pretimeout_at = deadline - pretimeout_ticks;
        next_allowed_ping = now + msecs_to_jiffies(MIN_PING_MS);
        spin_unlock_bh(wdt_lock);
        pinger_pid = current.pid; // ok: KH4003 ioctl path, process context
        return 0;
    }

    // Process context: WDIOC_GETTIMELEFT.
    public long time_left_ms()
    {
        ulong now = jiffies;
        if (time_before_eq(deadline, now)) // ok: KH5001 time_before_eq is wrap-safe
            return 0;
        if (pretimeout_at > deadline) // expect: KH5001 (raw > between two times derived from jiffies)
            return -EINVAL;
        return jiffies_to_msecs(deadline - now);
    }

    // Process context: settle time after re-arming the hardware (a short busy wait).
    public void wait_hw_settle()
    {
        ulong until = jiffies + HZ / 10;
        while (jiffies <= until) // expect: KH5001 (raw <= between jiffies and jiffies + HZ/10)
            cpu_relax();
        hw.ctrl |= 1;
    }

    public bool recently_pinged()
    {
        if (last_ping == 0) // ok: KH5001 equality with a constant, not an ordering
            return false;
        return (long)(jiffies - last_ping) < (long)timeout_ticks; // ok: KH5001 signed difference against a duration, the time_after idiom
    }

    public bool ping_window_open() => jiffies + msecs_to_jiffies(MIN_PING_MS) >= deadline; // expect: KH5001 (raw >= between jiffies + duration and the deadline field)

    public void stop()
    {
        armed = false;
        del_timer_sync(wdt_timer);
        del_timer_sync(heartbeat);
        cancel_work_sync(reboot_work);
        free_irq(status_irq, this); // ok: KH4002 same this as the request
        free_irq(alarm_irq, this); // expect: KH4002 (alarm_irq is requested only with the hw field as dev_id)
        free_irq(WDT_PRE_IRQ, hw); // expect: KH4002 (WDT_PRE_IRQ is requested only with null as dev_id)
    }
}

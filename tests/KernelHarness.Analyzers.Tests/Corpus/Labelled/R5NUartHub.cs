// A four-port UART hub: one IRQ, tasklet, rx-timeout timer and tx wait queue per port, plus hub-level lines.
// Holds: a shared line requested with a null cookie, free_irq with the wrong cookie, current in a tasklet, a status handler that claims everything, raw jiffies compares.
using System.Collections.Generic;
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R5NUartHub;

public sealed class UartPort
{
    public readonly int index;
    public readonly uint irq;
    public readonly UartHub hub;
    public readonly spinlock_t port_lock = new();
    public readonly tasklet_struct rx_tasklet = new();
    public readonly timer_list rx_timer = new();
    public readonly wait_queue_head_t tx_wait = new();
    public uint lsr;
    public int rx_count;
    public int tx_pending;
    public ulong rx_deadline;
    public ulong last_rx;
    public int last_reader;
    public bool registered;

    public UartPort(UartHub hub, int index, uint irq)
    {
        this.hub = hub;
        this.index = index;
        this.irq = irq;
    }

    public int setup()
    {
        tasklet_setup(rx_tasklet, rx_bottom_half);
        timer_setup(rx_timer, rx_timeout, 0);
        int err = request_irq(irq, port_isr, IRQF_SHARED, "uart-port", this); // ok: KH4001 shared line with the port itself as cookie
        if (err != 0)
            return err;
        registered = true;
        rx_deadline = jiffies + hub.rx_timeout;
        mod_timer(rx_timer, rx_deadline);
        return 0;
    }

    public void teardown()
    {
        if (!registered)
            return;
        free_irq(irq, hub); // expect: KH4002 (the port IRQ is requested only with the port (this) as dev_id, freed with the hub)
        registered = false;
        del_timer_sync(rx_timer);
        tasklet_kill(rx_tasklet);
    }

    // Hard IRQ: the port's own line status tells whether this interrupt is ours.
    private irqreturn_t port_isr(int irq_no, object? dev_id)
    {
        if (dev_id is not UartPort p || (p.lsr & 0x21) == 0)
            return IRQ_NONE;
        spin_lock(p.port_lock);
        if ((p.lsr & 0x01) != 0)
        {
            p.rx_count++;
            p.last_rx = jiffies;
        }
        if ((p.lsr & 0x20) != 0)
            p.tx_pending = 0;
        p.lsr = 0;
        spin_unlock(p.port_lock);
        p.note_reader();
        wake_up(p.tx_wait);
        tasklet_schedule(p.rx_tasklet);
        return IRQ_HANDLED;
    }

    // Called from the ISR and from write(): only records the caller in task context.
    public void note_reader()
    {
        if (!in_task())
            return;
        last_reader = current.pid; // ok: KH4003 the early return on !in_task() guards this read
    }

    // Softirq: move received bytes up and push the rx-timeout deadline out.
    private void rx_bottom_half(tasklet_struct t)
    {
        spin_lock_irqsave(port_lock, out ulong flags);
        int n = rx_count;
        rx_count = 0;
        spin_unlock_irqrestore(port_lock, flags);
        hub.account_rx(index, n);
        last_reader = current.pid; // expect: KH4003 (tasklet callback runs in softirq; current is whatever task was interrupted)
        rx_deadline = jiffies + hub.rx_timeout;
        mod_timer(rx_timer, rx_deadline);
    }

    // Softirq: fires when no byte arrived for rx_timeout, re-arms while the port is open.
    private void rx_timeout(timer_list t)
    {
        if (!registered)
            return;
        if (jiffies > rx_deadline) // expect: KH5001 (raw > between jiffies and the port's jiffies deadline)
            hub.push_partial(this);
        if (time_after(jiffies, last_rx + 10 * hub.rx_timeout)) // ok: KH5001 time_after() is the wrap-safe comparison
            lsr |= 0x40;
        rx_deadline = jiffies + hub.rx_timeout;
        mod_timer(rx_timer, rx_deadline);
    }

    private bool tx_empty()
    {
        spin_lock_irqsave(port_lock, out ulong flags);
        bool empty = tx_pending == 0;
        spin_unlock_irqrestore(port_lock, flags);
        return empty;
    }

    public void write(int bytes)
    {
        spin_lock_irqsave(port_lock, out ulong flags);
        tx_pending += bytes;
        spin_unlock_irqrestore(port_lock, flags);
        note_reader();
    }

    // Process context: a single wait for the FIFO to drain, then give up.
    public int drain_once()
    {
        var wait = DEFINE_WAIT();
        prepare_to_wait(tx_wait, wait, TASK_INTERRUPTIBLE);
        if (!tx_empty())
            schedule(); // expect: KH5002 (one schedule() after prepare_to_wait; tx_empty() is not re-tested after a wake-up)
        finish_wait(tx_wait, wait);
        return tx_empty() ? 0 : -EAGAIN;
    }

    // Process context: the LKD loop.
    public int drain()
    {
        var wait = DEFINE_WAIT();
        int ret = 0;
        for (;;)
        {
            prepare_to_wait(tx_wait, wait, TASK_INTERRUPTIBLE);
            if (tx_empty())
                break;
            if (signal_pending(current)) // ok: KH4003 drain() is only called from process context
            {
                ret = -EINTR;
                break;
            }
            schedule(); // ok: KH5002 loop re-tests tx_empty() after every wake-up
        }
        finish_wait(tx_wait, wait);
        return ret;
    }
}

public sealed class ModemCtl
{
    public readonly string name;
    public uint msr;
    public int ring_count;

    public ModemCtl(string name) => this.name = name;
}

public sealed class UartHub
{
    private const int NR_PORTS = 4;
    private readonly UartPort[] ports = new UartPort[NR_PORTS];
    private readonly spinlock_t stats_lock = new();
    private readonly mutex cfg_lock = new();
    private readonly work_struct stats_work = new();
    private readonly ModemCtl modem_a = new("modem-a");
    private readonly ModemCtl modem_b = new("modem-b");
    private readonly List<int> baud = new();
    private readonly long[] rx_bytes = new long[NR_PORTS];
    private uint status_irq;
    private uint legacy_irq;
    private uint modem_irq;
    private uint legacy_iir = 0x01;
    private ulong charged_brk;
    private bool shutting_down;
    public ulong rx_timeout = HZ / 10;

    public int probe(uint first_port_irq, uint status_line, uint legacy_line, uint modem_line)
    {
        status_irq = status_line;
        legacy_irq = legacy_line;
        modem_irq = modem_line;
        INIT_WORK(stats_work, w => charge_owner());
        for (int i = 0; i < NR_PORTS; i++)
        {
            ports[i] = new UartPort(this, i, first_port_irq + (uint)i);
            baud.Add(115200);
            int err = ports[i].setup();
            if (err != 0)
            {
                while (--i >= 0)
                    ports[i].teardown();
                return err;
            }
        }
        int ret = request_irq(status_irq, (i, d) => IRQ_HANDLED, IRQF_SHARED, "uart-status", this); // expect: KH4004 (shared-line handler returns IRQ_HANDLED on every path and reads no device state)
        if (ret != 0)
            return ret;
        ret = request_irq(legacy_irq, legacy_isr, IRQF_SHARED, "uart-legacy", null); // expect: KH4001 (IRQF_SHARED with a null dev_id)
        if (ret != 0)
            return ret;
        ret = request_irq(modem_irq, modem_isr, IRQF_SHARED, "modem-a", modem_a); // ok: KH4001 non-null cookie per modem controller
        if (ret != 0)
            return ret;
        return request_irq(modem_irq, modem_isr, IRQF_SHARED, "modem-b", modem_b); // ok: KH4004 modem_isr reads the ModemCtl passed as dev_id
    }

    // Hard IRQ on a 16550-style legacy port: IIR bit 0 set means "no interrupt pending".
    private irqreturn_t legacy_isr(int irq, object? dev_id)
    {
        if ((legacy_iir & 0x01) != 0)
            return IRQ_NONE;
        legacy_iir |= 0x01;
        return IRQ_HANDLED;
    }

    // Hard IRQ shared by both modem controllers: each instance checks its own status.
    private static irqreturn_t modem_isr(int irq, object? dev_id)
    {
        if (dev_id is not ModemCtl m || (m.msr & 0x40) == 0)
            return IRQ_NONE;
        m.ring_count++;
        m.msr &= ~0x40u;
        return IRQ_HANDLED;
    }

    // Softirq (called from each port's tasklet).
    public void account_rx(int port, int n)
    {
        spin_lock(stats_lock);
        rx_bytes[port] += n;
        spin_unlock(stats_lock);
        if (n > 0)
            schedule_work(stats_work);
    }

    // Softirq (rx timer): hand a short read up without waiting for more bytes.
    public void push_partial(UartPort p)
    {
        spin_lock(stats_lock);
        rx_bytes[p.index] += 1;
        spin_unlock(stats_lock);
    }

    // Work item: charge received data to "the owner" of the hub.
    private void charge_owner()
    {
        spin_lock_bh(stats_lock);
        long total = 0;
        for (int i = 0; i < NR_PORTS; i++)
            total += rx_bytes[i];
        spin_unlock_bh(stats_lock);
        charged_brk = current.mm.brk; // expect: KH6002 (work item runs in a kernel worker whose mm is null; no null check)
        pr_info("uart-hub: " + total + " bytes charged");
    }

    // ioctl path (user task).
    public int ioctl_set_baud(int port, int rate)
    {
        if (current.mm == init_mm) // expect: KH6001 (no task's mm is init_mm; a kernel thread has mm == null)
            return -EPERM;
        if (port < 0 || port >= NR_PORTS)
            return -EINVAL;
        mutex_lock(cfg_lock);
        baud[port] = rate;
        mutex_unlock(cfg_lock);
        return 0;
    }

    public void suspend_port(int i)
    {
        var p = ports[i];
        spin_lock_irqsave(p.port_lock, out ulong flags);
        p.lsr = 0;
        disable_irq_nosync(p.irq); // ok: KH1001 disable_irq_nosync does not wait for running handlers
        synchronize_irq(p.irq); // expect: KH1001 (synchronize_irq may sleep while the port spinlock is held with irqs off)
        spin_unlock_irqrestore(p.port_lock, flags);
    }

    public void remove()
    {
        spin_lock_irqsave(stats_lock, out ulong flags);
        shutting_down = true;
        spin_unlock_irqrestore(stats_lock, flags);
        for (int i = 0; i < NR_PORTS; i++)
            ports[i].teardown();
        free_irq(status_irq, null); // expect: KH4002 (status IRQ is requested only with this as dev_id)
        free_irq(legacy_irq, null); // ok: KH4002 same (null) cookie as its request; the request itself is the KH4001 bug
        free_irq(modem_irq, modem_a); // ok: KH4002 modem_a is one of the two cookies requested on this line
        free_irq(modem_irq, modem_b); // ok: KH4002 modem_b matches the second request
        cancel_work_sync(stats_work);
    }
}

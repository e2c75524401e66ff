// Two 16550-style UART ports sharing one interrupt line, a console port on a fixed line and a modem-status line.
// Mistakes: free_irq with the wrong cookie, `current` read in the ISR and tasklet, a shared handler claiming every interrupt, a raw jiffies timeout.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.DualUart;

public sealed class UartPort
{
    public const byte IIR_NO_INT = 0x01;
    public const byte LSR_DR = 0x01;
    public const byte LSR_TEMT = 0x40;

    public readonly string name;
    public readonly spinlock_t port_lock = new();
    public readonly byte[] rx_buf = new byte[256];
    public byte iir = IIR_NO_INT;
    public byte lsr = LSR_TEMT;
    public byte rbr;
    public int rx_head;
    public int rx_tail;
    public ulong rx_count;
    public int last_pid;
    public string last_comm = "";

    public UartPort(string name)
    {
        this.name = name;
    }

    public bool irq_pending() => (iir & IIR_NO_INT) == 0;

    public bool data_ready() => (lsr & LSR_DR) != 0;

    public bool tx_empty() => (lsr & LSR_TEMT) != 0;

    public int rx_available() => (rx_head - rx_tail + rx_buf.Length) % rx_buf.Length;
}

public sealed class DualUart
{
    private const uint CONSOLE_IRQ = 4;
    private const ulong UART_SHARED_FLAGS = IRQF_SHARED | IRQF_TRIGGER_HIGH;

    private readonly UartPort port0 = new("ttyS1");
    private readonly UartPort port1 = new("ttyS2");
    private readonly UartPort console = new("ttyS0");
    private readonly tasklet_struct rx_tasklet = new();
    private readonly tasklet_struct msr_tasklet = new();
    private readonly wait_queue_head_t rx_wait = new();
    private readonly wait_queue_head_t tx_wait = new();
    private uint irq;
    private uint msr_irq;
    private int owner_pid;
    private ulong console_chars;
    private ulong msr_events;

    public int probe(uint line, uint modem_line)
    {
        irq = line;
        msr_irq = modem_line;
        tasklet_setup(rx_tasklet, uart_rx_bh);
        tasklet_setup(msr_tasklet, t => modem_bh());

        int err = request_irq(irq, uart_isr, IRQF_SHARED, "ttyS1", port0); // ok: KH4001/KH4004 shared line with a non-null cookie, and uart_isr asks the port (irq_pending) before claiming
        if (err != 0)
            return err;
        err = request_irq(irq, uart_isr, UART_SHARED_FLAGS, "ttyS2", port1); // ok: KH4001/KH4004 second sharer, own cookie port1, handler reads the port's IIR
        if (err != 0)
        {
            free_irq(irq, this); // expect: KH4002 (irq is requested only with port0 and port1 as dev_id, never with this)
            return err;
        }
        err = request_irq(CONSOLE_IRQ, console_isr, IRQF_TRIGGER_RISING, "ttyS0", console); // ok: KH4004 console_isr always claims, but the line is not shared
        if (err != 0)
        {
            free_irq(irq, port1); // ok: KH4002 same field expression as the second request
            free_irq(irq, port0); // ok: KH4002 same field expression as the first request
            return err;
        }
        err = request_irq(msr_irq, modem_isr, IRQF_SHARED, "uart-msr", port1); // expect: KH4004 (shared handler returns IRQ_HANDLED on every path and never reads dev_id or port1)
        if (err != 0)
        {
            free_irq(CONSOLE_IRQ, console); // ok: KH4002 constant irq freed with the console field it was requested with
            free_irq(irq, port1); // ok: KH4002 same field as the request
            free_irq(irq, port0); // ok: KH4002 same field as the request
            return err;
        }
        pr_info("dualuart: ports ttyS1/ttyS2 on shared irq\n");
        return 0;
    }

    // Hard IRQ, run for both ports on every interrupt of the shared line.
    private irqreturn_t uart_isr(int irq_no, object? dev_id)
    {
        if (dev_id is not UartPort p || !p.irq_pending())
            return IRQ_NONE;
        spin_lock(p.port_lock);
        while (p.data_ready())
        {
            p.rx_buf[p.rx_head] = p.rbr;
            p.rx_head = (p.rx_head + 1) % p.rx_buf.Length;
            p.lsr = (byte)(p.lsr & ~UartPort.LSR_DR);
        }
        p.iir = UartPort.IIR_NO_INT;
        p.rx_count++;
        p.last_pid = current.pid; // expect: KH4003 (hard-IRQ handler: current is only the interrupted task)
        spin_unlock(p.port_lock);
        record_owner();
        tasklet_schedule(rx_tasklet);
        return IRQ_HANDLED;
    }

    // Hard IRQ on a dedicated (not shared) line: claiming unconditionally is acceptable there.
    private irqreturn_t console_isr(int irq_no, object? dev_id)
    {
        console_chars++;
        console.iir = UartPort.IIR_NO_INT;
        return IRQ_HANDLED;
    }

    // Hard IRQ on a shared line that never looks at its device.
    private irqreturn_t modem_isr(int irq_no, object? dev_id)
    {
        msr_events++;
        tasklet_schedule(msr_tasklet);
        return IRQ_HANDLED;
    }

    // Called from the ISR and from open(): the in_task() guard keeps the ISR path clean.
    private void record_owner()
    {
        if (in_task())
            owner_pid = current.pid; // ok: KH4003 read guarded by in_task()
    }

    // Softirq (tasklet): wake readers of both ports.
    private void uart_rx_bh(tasklet_struct t)
    {
        int avail = port0.rx_available() + port1.rx_available();
        if (avail == 0)
            return;
        pr_debug($"dualuart: {avail} bytes, woken under {current.comm}\n"); // expect: KH4003 (tasklet callback is softirq context)
        wake_up_interruptible(rx_wait);
    }

    // Softirq (tasklet): the modem-status bottom half calls a helper that records the task.
    private void modem_bh()
    {
        note_activity(port1);
        wake_up(tx_wait);
    }

    private static void note_activity(UartPort p)
    {
        p.last_comm = current.comm; // expect: KH4003 (reached from the msr tasklet: modem_bh -> note_activity)
    }

    // Process context from here down.
    public int open()
    {
        owner_pid = current.pid; // ok: KH4003 open() is a file operation, process context
        record_owner();
        return 0;
    }

    public int read(UartPort p, byte[] dst)
    {
        int err = wait_event_interruptible(rx_wait, () => p.rx_available() > 0); // ok: KH5002 wait_event* re-tests the condition itself
        if (err != 0)
            return err;
        int n = 0;
        spin_lock_irq(p.port_lock);
        while (n < dst.Length && p.rx_tail != p.rx_head)
        {
            dst[n++] = p.rx_buf[p.rx_tail];
            p.rx_tail = (p.rx_tail + 1) % p.rx_buf.Length;
        }
        spin_unlock_irq(p.port_lock);
        return n;
    }

    // Wait for the transmitter to drain before changing the baud rate.
    public int drain(UartPort p)
    {
        var wait = DEFINE_WAIT();
        prepare_to_wait(tx_wait, wait, TASK_INTERRUPTIBLE);
        if (!p.tx_empty())
            schedule(); // expect: KH5002 (one schedule() under an if: a spurious wake-up returns with the FIFO still full)
        finish_wait(tx_wait, wait);
        return p.tx_empty() ? 0 : -EAGAIN;
    }

    // Polled transmit used by the console path (busy wait, bounded by a deadline).
    public int poll_put_char(UartPort p, byte c)
    {
        ulong deadline = jiffies + msecs_to_jiffies(20);
        while (!p.tx_empty())
        {
            if (jiffies > deadline) // expect: KH5001 (raw > between jiffies and a deadline derived from jiffies)
                return -ETIMEDOUT;
            cpu_relax();
        }
        p.rbr = c;
        return 0;
    }

    public int poll_get_char(UartPort p)
    {
        ulong deadline = jiffies + msecs_to_jiffies(20);
        while (!p.data_ready())
        {
            if (time_after(jiffies, deadline)) // ok: KH5001 time_after is wrap-safe
                return -ETIMEDOUT;
            cpu_relax();
        }
        return p.rbr;
    }

    // Hot-plugged expansion port: request and unwind through the same parameters.
    public int attach_extra(UartPort extra, uint extra_line)
    {
        int err = request_irq(extra_line, uart_isr, IRQF_SHARED | IRQF_TRIGGER_HIGH, extra.name, extra); // ok: KH4001/KH4004 non-null cookie, checking handler
        if (err != 0)
            return err;
        if (extra.lsr == 0xff)
        {
            free_irq(extra_line, extra); // ok: KH4002 same parameter as the request in this method
            return -ENODEV;
        }
        return 0;
    }

    // Loopback test port: the unwind frees with the wrong cookie.
    public int attach_loopback(UartPort lb, uint lb_line)
    {
        int err = request_irq(lb_line, uart_isr, IRQF_SHARED, lb.name, lb); // ok: KH4001/KH4004 non-null cookie, checking handler
        if (err != 0)
            return err;
        lb.rbr = 0x5a;
        lb.lsr |= UartPort.LSR_DR;
        if (lb.rbr != 0x5a)
        {
            free_irq(lb_line, port0); // expect: KH4002 (lb_line is requested only with the parameter lb as dev_id)
            return -EIO;
        }
        return 0;
    }

    public void remove()
    {
        free_irq(msr_irq, port1); // ok: KH4002 msr_irq was requested with port1
        free_irq(CONSOLE_IRQ, null); // expect: KH4002 (CONSOLE_IRQ is requested only with the console field as dev_id)
        free_irq(irq, port1); // ok: KH4002 matches the second sharer's cookie
        free_irq(irq, port0); // ok: KH4002 matches the first sharer's cookie
        tasklet_kill(rx_tasklet);
        tasklet_kill(msr_tasklet);
    }
}

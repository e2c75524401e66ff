// IRQ registration bugs (KH4001–KH4004), and their correct neighbours.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.IrqDevices;

public sealed class Uart
{
    private uint irq;
    private uint status;
    private int pid_seen;
    private readonly tasklet_struct rx = new();
    private readonly Uart? peer = null;

    public int probe(uint line)
    {
        irq = line;
        tasklet_setup(rx, t => rx_bottom());
        int err = request_irq(irq, uart_isr, IRQF_SHARED, "uart", this);
        if (err != 0)
            return err;
        err = request_irq(irq + 1, always_isr, IRQF_SHARED, "uart-aux", peer); // expect: KH4004
        if (err != 0)
            return err;
        return request_irq(irq + 2, (i, d) => IRQ_HANDLED, IRQF_SHARED, "uart-null", null); // expect: KH4001, KH4004 (and the lambda claims every interrupt on the shared line)
    }

    private irqreturn_t uart_isr(int i, object? dev_id)
    {
        if (dev_id is not Uart u || u.status == 0)
            return IRQ_NONE;
        u.status = 0;
        pid_seen = current.pid; // expect: KH4003
        tasklet_schedule(rx);
        return IRQ_HANDLED;
    }

    private static irqreturn_t always_isr(int i, object? dev_id) => IRQ_HANDLED;

    private void rx_bottom()
    {
        if (in_task())
            pid_seen = current.pid;
        status++;
    }

    public void remove()
    {
        free_irq(irq, null); // expect: KH4002
        free_irq(irq + 1, peer);
        tasklet_kill(rx);
    }
}

public sealed class Timer2
{
    private const uint Line = 9;
    private readonly Timer2 cookie;
    private int ticks;

    public Timer2() => cookie = this;

    public int start() => request_irq(Line, tick_isr, 0, "timer2", cookie);

    private irqreturn_t tick_isr(int i, object? dev_id)
    {
        ticks++;
        return IRQ_HANDLED;
    }

    public void stop_wrong() => free_irq(Line, this); // expect: KH4002

    public void stop() => free_irq(Line, cookie);
}

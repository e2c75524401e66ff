// A multi-port UART hub: each UartPort object owns its locks and IRQ lines, the hub holds an array of ports.
// Holds lock helpers across classes ([Acquires]/[Releases]/[MustHold]), sleeping under another object's lock, variant and dev_id mix-ups.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R3ISerialHub;

public sealed class BusCtl { public uint pending, ack; }

public sealed class UartPort
{
    public readonly spinlock_t hw_lock = new();
    public readonly mutex cfg_lock = new();
    public readonly semaphore tx_sem = new(1);
    public readonly wait_queue_head_t tx_wait = new();
    public readonly timer_list tx_timer = new();
    public readonly SerialHub hub;
    public uint irq, modem_irq, lsr, msr, rx_count, baud = 9600;
    public int index;
    public bool tx_busy;
    public ulong saved_flags;
    private static uint modem_events;

    public UartPort(int idx, uint line, uint modem_line, SerialHub owner)
    {
        index = idx; irq = line; modem_irq = modem_line; hub = owner;
    }

    [Acquires("this.hw_lock", Kind = LockKind.SpinIrqSave, FlagsParameter = "flags")]
    public void lock_hw(out ulong flags)
    {
        spin_lock_irqsave(hw_lock, out flags); // ok: KH2003 near-miss: [Acquires("this.hw_lock")] helper: returning with the lock held is its contract
    }

    [Releases("this.hw_lock", Kind = LockKind.SpinIrqSave, FlagsParameter = "flags")]
    public void unlock_hw(ulong flags)
    {
        spin_unlock_irqrestore(hw_lock, flags); // ok: KH2003 near-miss: [Releases("this.hw_lock")] helper: the caller holds the lock
    }

    [MustHold("this.hw_lock")]
    public void kick_tx_locked()
    {
        tx_busy = true;
        mdelay(1); // ok: KH1001 near-miss: busy wait is allowed under the spinlock the caller must hold
        mod_timer(tx_timer, jiffies + HZ / 10);
    }

    // Called by the line discipline with hw_lock held, to let the FIFO empty.
    [MustHold("this.hw_lock")]
    public void drain_locked()
    {
        for (int i = 0; i < 8 && tx_busy; i++)
            msleep(2); // expect: KH1001 (msleep in a [MustHold("this.hw_lock")] method: a spinlock is held)
    }

    [MustHold("this.cfg_lock")]
    private void apply_baud_locked(uint new_baud)
    {
        baud = new_baud;
        msleep(5); // ok: KH1001 near-miss: the [MustHold] lock is cfg_lock, a mutex: sleeping is allowed under it
    }

    public int set_baud(uint new_baud)
    {
        if (mutex_lock_interruptible(cfg_lock) != 0) // ok: KH2003 near-miss: a non-zero result means cfg_lock was not taken
            return -EINTR;
        apply_baud_locked(new_baud);
        mutex_unlock(cfg_lock);
        return 0;
    }

    private void wait_fifo_empty() => usleep_range(100, 200);

    public void reprogram() { lsr = 0; wait_fifo_empty(); }

    // Hard IRQ, registered with this port as dev_id: asks the port whether it raised the line.
    public irqreturn_t uart_isr(int irq_no, object? dev_id)
    {
        spin_lock(hw_lock);
        uint status = lsr;
        if (status == 0)
        {
            spin_unlock(hw_lock);
            return IRQ_NONE;
        }
        lsr = 0;
        rx_count++;
        spin_unlock(hw_lock);
        if (down_trylock(tx_sem) == 0) // ok: KH1001 near-miss: down_trylock never sleeps, usable from hard IRQ
        {
            tx_busy = false;
            up(tx_sem);
        }
        wake_up(tx_wait);
        return IRQ_HANDLED;
    }

    // Hard IRQ on the modem-status line: counts, never looks at the port.
    public irqreturn_t modem_isr(int irq_no, object? dev_id) { modem_events++; return IRQ_HANDLED; }

    // Timer callback (softirq).
    private void tx_timeout()
    {
        tx_busy = false;
        hub.notify_stall(this); // expect: KH1001 (timer callback, softirq: notify_stall() -> mutex_lock() may sleep)
    }

    public int open()
    {
        timer_setup(tx_timer, t => tx_timeout(), 0);
        int err = request_irq(irq, uart_isr, IRQF_SHARED, "uart", this); // ok: KH4004 near-miss: uart_isr reads this port's lsr and returns IRQ_NONE when idle
        if (err != 0)
            return err;
        err = request_irq(modem_irq, modem_isr, IRQF_SHARED, "uart-modem", this); // expect: KH4004 (modem_isr returns IRQ_HANDLED on every path without reading its port)
        if (err != 0)
        {
            free_irq(irq, this); // ok: KH4002 near-miss: irq was requested with this port
            return err;
        }
        return 0;
    }

    public void load_fifo(uint fill)
    {
        local_irq_save(out saved_flags); // ok: KH2002 near-miss: flags kept in a field, restored by restore_port_irqs() whose summary restores
        lsr = fill;
        restore_port_irqs();
    }

    private void restore_port_irqs()
    {
        local_irq_restore(saved_flags); // ok: KH2002 near-miss: the flags load_fifo saved into the field
    }

    public int sample_msr(uint mask)
    {
        local_irq_save(out ulong flags); // expect: KH2002 (interrupts left disabled on the -EINVAL return)
        if (mask == 0)
            return -EINVAL;
        msr &= mask;
        local_irq_restore(flags);
        return 0;
    }

    public void close()
    {
        del_timer_sync(tx_timer);
        free_irq(irq, this); // ok: KH4002 near-miss: same dev_id as open()'s request
        free_irq(modem_irq, hub); // expect: KH4002 (modem_irq is requested only with this port, freed with the hub)
    }
}

public sealed class SerialHub
{
    private const int MAX_PORTS = 4;
    private readonly UartPort[] ports = new UartPort[MAX_PORTS];
    private readonly spinlock_t hub_lock = new();
    private readonly mutex probe_lock = new();
    private readonly BusCtl bus = new();
    private readonly tasklet_struct bus_bh = new();
    private int nports;
    private uint bus_irq, aux_irq;

    public int probe(uint first_irq, uint bus_line, uint aux_line)
    {
        tasklet_setup(bus_bh, t => bus_bottom_half());
        mutex_lock(probe_lock);
        bus_irq = bus_line;
        aux_irq = aux_line;
        for (int i = 0; i < MAX_PORTS; i++)
        {
            ports[i] = new UartPort(i, first_irq + (uint)(2 * i), first_irq + (uint)(2 * i + 1), this);
            int err = ports[i].open(); // ok: KH1001 near-miss: open() sleeps (request_irq) but only the probe mutex is held
            if (err != 0)
            {
                mutex_unlock(probe_lock);
                return err;
            }
            nports++;
        }
        int ret = request_irq(bus_irq, bus_isr, IRQF_SHARED, "hub-bus", bus); // ok: KH4004 near-miss: bus_isr tests its dev_id's pending bits
        if (ret == 0)
            ret = request_irq(aux_irq, (n, d) => IRQ_HANDLED, IRQF_SHARED, "hub-aux", this); // expect: KH4004 (lambda claims every interrupt on a shared line without reading the hub)
        mutex_unlock(probe_lock);
        return ret;
    }

    private irqreturn_t bus_isr(int irq_no, object? dev_id)
    {
        if (dev_id is not BusCtl b || b.pending == 0)
            return IRQ_NONE;
        b.ack = b.pending;
        b.pending = 0;
        tasklet_schedule(bus_bh);
        return IRQ_HANDLED;
    }

    // Tasklet (softirq): kick every port's transmitter.
    private void bus_bottom_half()
    {
        for (int i = 0; i < nports; i++)
        {
            spin_lock_irqsave(ports[i].hw_lock, out ulong flags);
            ports[i].kick_tx_locked();
            spin_unlock_irqrestore(ports[i].hw_lock, flags); // ok: KH2004 near-miss: irqsave paired with irqrestore through the array element
        }
    }

    public void flush_rx_counters()
    {
        for (int i = 0; i < nports; i++)
        {
            spin_lock_irqsave(ports[i].hw_lock, out ulong flags);
            ports[i].rx_count = 0;
            spin_unlock(ports[i].hw_lock); // expect: KH2004 (ports[i].hw_lock taken with spin_lock_irqsave, released with spin_unlock)
        }
    }

    public void poke(int idx)
    {
        UartPort p = ports[idx];
        p.lock_hw(out ulong flags); // ok: KH2003 near-miss: balanced by p.unlock_hw(flags), the [Releases] helper of the other class
        p.kick_tx_locked();
        p.unlock_hw(flags);
    }

    public void drain_port(int idx)
    {
        UartPort p = ports[idx];
        p.lock_hw(out ulong flags);
        p.kick_tx_locked();
        wait_event(p.tx_wait, () => !p.tx_busy); // expect: KH1001 (wait_event() may sleep: p.hw_lock is held through the [Acquires] helper lock_hw)
        p.unlock_hw(flags);
    }

    public void ack_port(int idx)
    {
        UartPort p = ports[idx];
        p.lock_hw(out ulong flags); // ok: KH2003 near-miss: released by finish_port, annotated [Releases("p.hw_lock")]
        p.lsr = 0;
        finish_port(p, flags);
    }

    public int set_tx_mask(int idx, uint mask)
    {
        UartPort p = ports[idx];
        p.lock_hw(out ulong flags); // expect: KH2003 (p.hw_lock taken through the [Acquires] helper is still held at the -EINVAL return)
        if (mask == 0)
            return -EINVAL;
        p.lsr &= mask;
        finish_port(p, flags);
        return 0;
    }

    [Releases("p.hw_lock", Kind = LockKind.SpinIrqSave, FlagsParameter = "flags")]
    private static void finish_port(UartPort p, ulong flags)
    {
        p.tx_busy = false;
        spin_unlock_irqrestore(p.hw_lock, flags); // ok: KH2003 near-miss: [Releases("p.hw_lock")] helper, its callers took the lock with p.lock_hw
    }

    public void clear_status(int idx)
    {
        UartPort p = ports[idx];
        p.lock_hw(out ulong flags);
        p.msr = 0;
        spin_unlock_irq(p.hw_lock); // expect: KH2004 (taken with irqsave through lock_hw, released with spin_unlock_irq)
    }

    public void reconfigure_all()
    {
        spin_lock(hub_lock);
        for (int i = 0; i < nports; i++)
            ports[i].reprogram(); // expect: KH1001 (hub_lock held: reprogram() -> wait_fifo_empty() -> usleep_range() may sleep)
        spin_unlock(hub_lock);
    }

    public int set_port_baud(int idx, uint baud)
    {
        spin_lock(hub_lock);
        if (idx < 0 || idx >= nports)
        {
            spin_unlock(hub_lock);
            return -EINVAL;
        }
        UartPort p = ports[idx];
        spin_unlock(hub_lock);
        return p.set_baud(baud); // ok: KH1001 near-miss: hub_lock is dropped on every path before set_baud() sleeps
    }

    public void notify_stall(UartPort p) { mutex_lock(probe_lock); p.tx_busy = false; mutex_unlock(probe_lock); }

    public int try_steal_tx(int idx)
    {
        UartPort from = ports[idx];
        if (!spin_trylock(from.hw_lock))
        {
            msleep(1); // ok: KH1001 near-miss: the trylock failed, from.hw_lock is not held on this branch
            return -EBUSY;
        }
        from.tx_busy = false;
        spin_unlock(from.hw_lock); // ok: KH2003 near-miss: releases what the successful trylock took
        return 0;
    }

    public void wait_tx_slot(int idx)
    {
        UartPort p = ports[idx];
        if (spin_trylock(p.hw_lock))
        {
            down(p.tx_sem); // expect: KH1001 (down() may sleep while p.hw_lock, taken by the trylock, is held)
            p.tx_busy = true;
            up(p.tx_sem);
            spin_unlock(p.hw_lock);
        }
    }

    public int write_port(int idx, uint value)
    {
        UartPort p = ports[idx];
        mutex_lock(p.cfg_lock); // expect: KH2003 (p.cfg_lock still held on the -EBUSY return)
        if (p.tx_busy)
            return -EBUSY;
        down(p.tx_sem); // ok: KH1001 near-miss: only a mutex is held, sleeping is allowed
        p.lsr = value;
        up(p.tx_sem);
        mutex_unlock(p.cfg_lock);
        return 0;
    }

    public void resync_bus()
    {
        local_irq_save(out ulong flags);
        bus.pending = 0;
        local_irq_enable(); // expect: KH2002 (local_irq_enable inside a local_irq_save region)
        bus.ack = 0;
        local_irq_restore(flags);
    }

    public void remove()
    {
        tasklet_kill(bus_bh);
        for (int i = 0; i < nports; i++)
            ports[i].close();
        free_irq(aux_irq, this); // ok: KH4002 near-miss: aux_irq was requested with this hub
        free_irq(bus_irq, this); // expect: KH4002 (bus_irq is requested only with the bus object, freed with the hub)
    }
}

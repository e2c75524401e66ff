// A two-channel DMA bridge: each DmaChannel object owns its lock, mutex and completion; the bridge nests the
// rx and tx locks and a BridgeLink reaches its channel as this.port.lock. Holds double acquires, crossed saves, peer-lock sleeps, dev_id mix-ups.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R3IDmaBridge;

public sealed class DmaChannel
{
    public readonly spinlock_t @lock = new();
    public readonly mutex xfer_mutex = new();
    public readonly completion done = new();
    public readonly work_struct restart_work = new();
    public uint irq, status, head, tail;
    public ulong irq_flags;
    public bool running;
    public int errors;
    private static uint alarm_hits;

    public DmaChannel(uint line) { irq = line; INIT_WORK(restart_work, w => restart()); }

    // Hard half of the channel's threaded IRQ, registered with this channel as dev_id.
    private irqreturn_t chan_hard_isr(int irq_no, object? dev_id)
    {
        spin_lock(@lock);
        uint st = status;
        status = 0;
        spin_unlock(@lock);
        if (st == 0)
            return IRQ_NONE;
        if ((st & 0x8) != 0)
            restart(); // expect: KH1001 (hard-IRQ handler: restart() -> mutex_lock() may sleep)
        return IRQ_WAKE_THREAD;
    }

    private irqreturn_t chan_thread_fn(int irq_no, object? dev_id)
    {
        restart(); // ok: KH1001 near-miss: the thread_fn runs in process context
        complete(done);
        return IRQ_HANDLED;
    }

    public void restart() { mutex_lock(xfer_mutex); head = tail = 0; running = true; mutex_unlock(xfer_mutex); }

    // Hard IRQ on the wake line; the bridge registers it with this channel as dev_id.
    public irqreturn_t wake_isr(int irq_no, object? dev_id)
    {
        if (status == 0)
            return IRQ_NONE;
        schedule_work(restart_work);
        return IRQ_HANDLED;
    }

    // Hard IRQ on the alarm line: counts and claims, never looks at the channel.
    public irqreturn_t alarm_isr(int irq_no, object? dev_id) { alarm_hits++; return IRQ_HANDLED; }

    public int start() => request_threaded_irq(irq, chan_hard_isr, chan_thread_fn, IRQF_SHARED | IRQF_ONESHOT, "dma-chan", this); // ok: KH4004 near-miss: the hard half reads this channel's status; thread_fn is not a hard handler

    public void stop() => free_irq(irq, this); // ok: KH4002 near-miss: the dev_id start() requested with

    public void settle(bool may_sleep)
    {
        if (may_sleep) msleep(2); else udelay(50);
    }

    public void reset_ring()
    {
        local_irq_save(out irq_flags); // ok: KH2002 near-miss: flags kept in a field and restored from that field below
        head = tail = 0;
        local_irq_restore(irq_flags);
    }

    public void quiesce()
    {
        spin_lock_irqsave(@lock, out irq_flags);
        running = false;
        msleep(1); // expect: KH1001 (msleep() with this channel's spinlock held and interrupts off)
        spin_unlock_irqrestore(@lock, irq_flags); // ok: KH2004 near-miss: irqsave pair, flags kept in a field
    }
}

public sealed class BridgeLink
{
    private readonly DmaChannel port;
    public uint credits, err_status;

    public BridgeLink(DmaChannel p) { port = p; }

    [Acquires("ch.lock", Kind = LockKind.Spin)]
    public static void grab(DmaChannel ch)
    {
        spin_lock(ch.@lock); // ok: KH2003 near-miss: [Acquires("ch.lock")] helper returns with the lock held
    }

    public void add_credit()
    {
        spin_lock_bh(this.port.@lock);
        credits++;
        port.head++;
        spin_unlock(this.port.@lock); // expect: KH2004 (spin_lock_bh released with spin_unlock)
    }

    public void drain_credit()
    {
        spin_lock_bh(this.port.@lock);
        credits = 0;
        spin_unlock_bh(port.@lock); // ok: KH2004 near-miss: bh pair; port.lock is this.port.lock
    }

    public int sync_head(uint h)
    {
        spin_lock(this.port.@lock);
        if (h == port.head)
        {
            spin_unlock(port.@lock); // ok: KH2003 near-miss: port.lock and this.port.lock name the same held lock
            return 0;
        }
        spin_lock(port.@lock); // expect: KH2003 (double acquire: port.lock is this.port.lock, already held)
        port.head = h;
        spin_unlock(port.@lock);
        spin_unlock(this.port.@lock);
        return 1;
    }
}

public sealed class DmaBridge
{
    private readonly DmaChannel rx;
    private readonly DmaChannel tx;
    private readonly DmaChannel[] chans;
    private readonly BridgeLink link;
    private readonly mutex cfg_mutex = new();
    private uint err_irq, wake_irq, alarm_irq, tick_irq;
    private static uint ticks;

    public DmaBridge(uint rx_line, uint tx_line)
    {
        rx = new DmaChannel(rx_line);
        tx = new DmaChannel(tx_line);
        chans = new DmaChannel[] { rx, tx };
        link = new BridgeLink(rx);
    }

    private static irqreturn_t err_isr(int irq_no, object? dev_id)
    {
        if (dev_id is not BridgeLink l || l.err_status == 0)
            return IRQ_NONE;
        l.err_status = 0;
        return IRQ_HANDLED;
    }

    private static irqreturn_t tick_isr(int irq_no, object? dev_id) { ticks++; return IRQ_HANDLED; }

    public int probe(uint err_line, uint wake_line, uint alarm_line, uint tick_line)
    {
        err_irq = err_line; wake_irq = wake_line;
        alarm_irq = alarm_line; tick_irq = tick_line;
        irq_handler_t tick = tick_isr;
        mutex_lock(cfg_mutex);
        int ret = rx.start(); // ok: KH1001 near-miss: start() sleeps (request_threaded_irq) with only a mutex held
        if (ret == 0)
            ret = tx.start();
        if (ret == 0)
            ret = request_irq(err_irq, err_isr, IRQF_SHARED, "dma-err", link); // ok: KH4004 near-miss: err_isr reads the link's err_status through dev_id
        if (ret == 0)
            ret = request_irq(wake_irq, rx.wake_isr, IRQF_SHARED, "dma-wake", rx); // ok: KH4004 near-miss: rx.wake_isr reads rx's status, and rx is the dev_id
        if (ret == 0)
            ret = request_irq(alarm_irq, tx.alarm_isr, IRQF_SHARED, "dma-alarm", tx); // expect: KH4004 (tx.alarm_isr returns IRQ_HANDLED on every path without reading tx)
        if (ret == 0)
            ret = request_irq(tick_irq, tick, IRQF_SHARED, "dma-tick", this); // expect: KH4004 (the handler stored in a local never reads the bridge and always returns IRQ_HANDLED)
        mutex_unlock(cfg_mutex);
        return ret;
    }

    // Move n descriptors from rx to tx: rx.lock is always taken before tx.lock.
    public int forward(uint n)
    {
        spin_lock(rx.@lock);
        spin_lock(tx.@lock); // ok: KH2003 near-miss: another channel's lock (rx and tx are distinct objects), not a double acquire
        rx.tail += n;
        tx.head += n;
        mdelay(1); // ok: KH1001 near-miss: busy wait under both spinlocks
        spin_unlock(tx.@lock);
        spin_unlock(rx.@lock);
        return 0;
    }

    public int forward_checked(uint n)
    {
        spin_lock(rx.@lock);
        spin_lock(tx.@lock); // expect: KH2003 (tx.lock still held on the -ENOSPC return; only rx.lock is dropped)
        if (tx.head + n > 256)
        {
            spin_unlock(rx.@lock);
            return -ENOSPC;
        }
        rx.tail += n;
        tx.head += n;
        spin_unlock(tx.@lock);
        spin_unlock(rx.@lock);
        return 0;
    }

    public int flush_and_wait()
    {
        spin_lock(rx.@lock);
        spin_lock(tx.@lock);
        tx.running = true;
        wait_for_completion(tx.done); // expect: KH1001 (wait_for_completion() may sleep with rx.lock and tx.lock held)
        spin_unlock(tx.@lock);
        spin_unlock(rx.@lock);
        return 0;
    }

    public void ack_rx(uint st)
    {
        spin_lock(rx.@lock); // expect: KH2003 (rx.lock is never released: the unlock below names tx)
        rx.status &= ~st;
        spin_unlock(tx.@lock); // expect: KH2003 (tx.lock released but not held)
    }

    public int steal_credit()
    {
        if (spin_trylock(tx.@lock))
        {
            tx.errors = 0;
            synchronize_irq(tx.irq); // expect: KH1001 (synchronize_irq() may sleep while tx.lock, taken by the trylock, is held)
            spin_unlock(tx.@lock);
            return 0;
        }
        return -EBUSY;
    }

    public uint peek_tx_head()
    {
        BridgeLink.grab(tx); // ok: KH2003 near-miss: [Acquires("ch.lock")] helper of the other class, released below
        uint h = tx.head;
        spin_unlock(tx.@lock);
        return h;
    }

    public void kick_tx()
    {
        spin_lock_irq(tx.@lock);
        tx.running = true;
        tx.settle(false); // ok: KH1001 near-miss: settle() sleeps only when may_sleep is true; the constant false rules it out
        spin_unlock_irq(tx.@lock); // ok: KH2004 near-miss: spin_lock_irq paired with spin_unlock_irq
    }

    public void stop_rx()
    {
        spin_lock_irq(rx.@lock);
        rx.running = false;
        spin_unlock(rx.@lock); // expect: KH2004 (spin_lock_irq released with spin_unlock: interrupts stay off)
    }

    public int reconfigure(uint mode)
    {
        int err = 0;
        for (int i = 0; i < chans.Length; i++)
        {
            mutex_lock(chans[i].xfer_mutex); // expect: KH2003 (chans[i].xfer_mutex left locked when the loop breaks out)
            if (!chans[i].running)
            {
                err = -EIO;
                break;
            }
            chans[i].status = mode;
            mutex_unlock(chans[i].xfer_mutex);
        }
        return err;
    }

    public int reconfigure_safe(uint mode)
    {
        for (int i = 0; i < chans.Length; i++)
        {
            DmaChannel ch = chans[i];
            mutex_lock(ch.xfer_mutex); // ok: KH2003 near-miss: released in the finally on every path
            try
            {
                if (!ch.running)
                    return -EIO;
                ch.status = mode;
                ch.settle(true); // ok: KH1001 near-miss: only a mutex is held
            }
            finally
            {
                mutex_unlock(ch.xfer_mutex);
            }
        }
        return 0;
    }

    public void swap_rings()
    {
        local_irq_save(out ulong fr);
        local_irq_save(out ulong ft);
        uint h = rx.head; rx.head = tx.head; tx.head = h;
        local_irq_restore(fr); // expect: KH2002 (saves and restores crossed: fr restored before ft)
        local_irq_restore(ft);
    }

    public void snapshot(out uint rh, out uint th)
    {
        local_irq_save(out ulong outer);
        rh = rx.head;
        local_irq_save(out ulong inner);
        th = tx.head;
        local_irq_restore(inner); // ok: KH2002 near-miss: properly nested, the inner save restored first
        local_irq_restore(outer);
    }

    public int arm_alarm()
    {
        local_irq_disable(); // expect: KH2002 (interrupts left disabled on the -EBUSY return)
        if (tx.running)
            return -EBUSY;
        tx.status |= 0x4;
        local_irq_enable();
        return 0;
    }

    public void clear_errors()
    {
        local_irq_disable(); // ok: KH2002 near-miss: re-enabled in the finally
        try
        {
            rx.errors = 0; tx.errors = 0;
        }
        finally
        {
            local_irq_enable();
        }
    }

    public void remove()
    {
        mutex_lock(cfg_mutex);
        rx.stop();
        tx.stop();
        free_irq(wake_irq, rx); // ok: KH4002 near-miss: wake_irq was requested with rx
        free_irq(alarm_irq, rx); // expect: KH4002 (alarm_irq is requested only with tx, freed with rx)
        BridgeLink cookie = link;
        free_irq(err_irq, cookie); // ok: KH4002 near-miss: a local assigned once from link, the request's dev_id
        free_irq(tick_irq, link); // expect: KH4002 (tick_irq is requested only with this bridge, freed with link)
        mutex_unlock(cfg_mutex);
    }
}

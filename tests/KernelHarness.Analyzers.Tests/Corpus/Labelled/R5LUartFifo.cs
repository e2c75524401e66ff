// 16550-style UART whose rings live in a private nested Fifo class that owns the spinlock and its Lock/Unlock
// helpers; local functions, a static-lambda IRQ handler, and switch statements/expressions choosing what to do
// under the lock. Holds sleeps under the nested lock, blocking GFP from a local-function timer and a static lambda,
// a __GFP_DMA32 kmalloc, a get_cpu left on inside a foreach, locks left held by early returns.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R5LUartFifo;

public enum UartMode { Poll, Irq, Dma }

public sealed class UartFifo
{
    private const int FIFO_LEN = 256;
    private const int CMD_RESET = 1;
    private const int CMD_FLUSH = 2;
    private const int CMD_BAUD = 3;

    // Owns one ring and the spinlock that guards it.
    private sealed class Fifo
    {
        public readonly spinlock_t lk = new();
        public readonly byte[] buf = new byte[FIFO_LEN];
        public int head, tail, count;

        public void Lock() => spin_lock(lk); // ok: acquire helper with callers: its summary (acquires lk) is checked at each call instead
        public void Unlock() => spin_unlock(lk); // ok: release helper, only called with lk held
        public bool Full => count == FIFO_LEN;
        public bool Empty => count == 0;

        public void Push(byte b)
        {
            buf[head] = b;
            head = (head + 1) % FIFO_LEN;
            count++;
        }

        public int Pop()
        {
            if (count == 0)
                return -1;
            int v = buf[tail];
            tail = (tail + 1) % FIFO_LEN;
            count--;
            return v;
        }

        public void Reset() => head = tail = count = 0;

        // The transmitter empties at line speed: sleep between polls.
        public void WaitDrained()
        {
            for (int i = 0; i < 50 && count > 0; i++)
                usleep_range(50, 100);
        }
    }

    private readonly Fifo rx = new();
    private readonly Fifo tx = new();
    private readonly mutex port_mutex = new();
    private readonly completion dma_done = new();
    private readonly timer_list poll_timer = new();
    private readonly work_struct refill_work = new();
    private static readonly percpu<long> rx_bytes = DEFINE_PER_CPU<long>();
    private UartMode mode = UartMode.Irq;
    private kptr dma_buf = NULL;
    private kptr tx_stage = NULL;
    private page? ring_pg;
    private uint rx_irq, tx_irq;
    private int baud = 115200;
    private int lsr;
    private int overruns;

    private bool rx_ready => (lsr & 0x1) != 0;
    private bool thr_empty => (lsr & 0x20) != 0;

    public int probe(uint rxi, uint txi)
    {
        rx_irq = rxi;
        tx_irq = txi;
        dma_buf = kmalloc(FIFO_LEN, GFP_KERNEL | __GFP_DMA32); // expect: KH1004 (__GFP_DMA32 passed to kmalloc: it is in GFP_SLAB_BUG_MASK)
        if (dma_buf == NULL)
            return -ENOMEM;
        ring_pg = alloc_pages(GFP_KERNEL | __GFP_DMA32, 1); // ok: one zone modifier, and the page allocator may serve ZONE_DMA32
        if (ring_pg is null)
        {
            kfree(dma_buf);
            dma_buf = NULL;
            return -ENOMEM;
        }
        INIT_WORK(refill_work, refill_fn);

        // Local function registered as the poll timer: softirq context.
        void poll_tick(timer_list t)
        {
            if (rx_ready)
            {
                var rec = kmalloc(64, GFP_KERNEL); // expect: KH1002 (poll_tick is a local function registered with timer_setup: softirq context)
                if (rec != NULL)
                    kfree(rec);
            }
            mod_timer(poll_timer, jiffies + HZ / 50);
        }
        timer_setup(poll_timer, poll_tick, 0);

        int err = request_irq(rx_irq, rx_isr, IRQF_TRIGGER_HIGH, "uart-rx", this);
        if (err != 0)
            goto fail_pages;
        err = request_irq(tx_irq, static (n, d) =>
        {
            if (d is not UartFifo u || !u.thr_empty)
                return IRQ_NONE;
            u.stage_tx(GFP_KERNEL); // expect: KH1002 (blocking GFP_KERNEL passed to the allocating helper stage_tx from a static-lambda hard-IRQ handler)
            return IRQ_HANDLED;
        }, IRQF_TRIGGER_HIGH, "uart-tx", this);
        if (err != 0)
        {
            free_irq(rx_irq, this);
            goto fail_pages;
        }
        mod_timer(poll_timer, jiffies + HZ / 50);
        return 0;

    fail_pages:
        __free_pages(ring_pg, 1);
        ring_pg = null;
        kfree(dma_buf);
        dma_buf = NULL;
        return err;
    }

    // Hard-IRQ context.
    private irqreturn_t rx_isr(int irq, object? dev_id)
    {
        if (!rx_ready)
            return IRQ_NONE;
        int taken = 0;
        void take(byte b)
        {
            if (rx.Full)
            {
                overruns++;
                return;
            }
            rx.Push(b);
            taken++;
        }
        rx.Lock();
        for (int i = 0; i < 16 && rx_ready; i++, lsr &= ~0x1)
            take((byte)(lsr >> 8));
        rx.Unlock();
        this_cpu_add(rx_bytes, (long)taken);
        if (taken > 8)
            schedule_work(refill_work);
        return IRQ_HANDLED;
    }

    // Allocates the transmit staging buffer with the caller's flags.
    private void stage_tx(gfp_t gfp)
    {
        if (tx_stage != NULL)
            return;
        var p = kzalloc(FIFO_LEN, gfp); // ok: the gfp_t parameter is passed through; each caller's flags are checked instead
        if (p == NULL)
            return;
        tx.Lock();
        int n = 0;
        while (!tx.Empty && n < FIFO_LEN)
            ptr_span(p, FIFO_LEN)[n++] = (byte)tx.Pop();
        tx.Unlock();
        tx_stage = p;
    }

    private int sync_dma() => wait_for_completion_timeout(dma_done, HZ / 10) == 0 ? -EIO : 0;

    // Process context: work item.
    private void refill_fn(work_struct w)
    {
        mutex_lock(port_mutex);
        stage_tx(GFP_KERNEL); // ok: work item holding only a mutex: blocking flags are allowed
        tx.WaitDrained(); // ok: process context; a mutex (port_mutex) may be held across a sleep
        mutex_unlock(port_mutex);
        var scratch = kmalloc(FIFO_LEN, GFP_ATOMIC); // expect: KH1003 (refill_fn is a work item and nothing is held here: GFP_KERNEL would do)
        if (scratch == NULL)
            return;
        rx.Lock();
        for (int n = 0, v; n < FIFO_LEN && (v = rx.Pop()) >= 0; n++)
            ptr_span(scratch, FIFO_LEN)[n] = (byte)v;
        rx.Unlock();
        kfree(scratch);
    }

    public int flush_tx()
    {
        tx.Lock();
        if (tx.Empty)
        {
            tx.Unlock();
            return 0;
        }
        tx.WaitDrained(); // expect: KH1001 (Fifo.WaitDrained() -> usleep_range() sleeps while tx.lk, taken by tx.Lock(), is held)
        tx.Unlock();
        return tx.Empty ? 0 : -EBUSY;
    }

    public int write_bytes(byte[] src)
    {
        tx.Lock(); // expect: KH2003 (the -EAGAIN return inside the loop leaves tx.lk, taken through Fifo.Lock(), held)
        for (int i = 0; i < src.Length; i++)
        {
            if (tx.Full)
                return -EAGAIN;
            tx.Push(src[i]);
        }
        tx.Unlock();
        return src.Length;
    }

    public int read_bytes(byte[] dst)
    {
        int n = 0;
        rx.Lock(); // ok: released in the finally on every exit, including the return inside the loop
        try
        {
            while (n < dst.Length)
            {
                int v = rx.Pop();
                if (v < 0)
                    return n;
                dst[n++] = (byte)v;
            }
        }
        finally { rx.Unlock(); }
        return n;
    }

    public int ioctl(int cmd, int arg)
    {
        spin_lock_irqsave(tx.lk, out ulong flags); // expect: KH2003 (the 'arg <= 0' return in case CMD_BAUD leaves tx.lk held)
        switch (cmd)
        {
            case CMD_RESET:
                tx.Reset();
                break;
            case CMD_FLUSH:
                spin_unlock_irqrestore(tx.lk, flags);
                tx.WaitDrained(); // ok: tx.lk was released just above on this path
                return 0;
            case CMD_BAUD:
                if (arg <= 0)
                    return -EINVAL;
                baud = arg;
                break;
            default:
                spin_unlock_irqrestore(tx.lk, flags);
                return -EINVAL;
        }
        spin_unlock_irqrestore(tx.lk, flags);
        return 0;
    }

    public int set_mode(UartMode m)
    {
        mutex_lock(port_mutex);
        rx.Lock();
        int rc = m switch { UartMode.Poll => 0, UartMode.Irq => rx.Empty ? 0 : -EBUSY, UartMode.Dma => sync_dma(), _ => -EINVAL }; // expect: KH1001 (the Dma arm calls sync_dma() -> wait_for_completion_timeout() while rx.lk is held)
        if (rc == 0)
            mode = m;
        rx.Unlock();
        mutex_unlock(port_mutex);
        return rc;
    }

    public kptr peek_frame()
    {
        rx.Lock();
        var f = kmalloc(64, mode switch { UartMode.Dma => GFP_ATOMIC, _ => GFP_NOWAIT }); // ok: both arms of the switch are non-blocking flags
        if (f != NULL)
            memset(f, rx.count & 0xff, 64);
        rx.Unlock();
        return f;
    }

    public int set_baud(int b)
    {
        if (b <= 0 || b > 115200)
            return -EINVAL;
        void program_divisor(int div)
        {
            lsr = (lsr & ~0xff00) | ((div & 0xff) << 8);
            msleep(1);
        }
        spin_lock_irq(rx.lk);
        baud = b;
        program_divisor(115200 / b); // expect: KH1001 (local function program_divisor() calls msleep while rx.lk is held with interrupts off)
        spin_unlock_irq(rx.lk);
        return 0;
    }

    public int account(byte[] frame)
    {
        int cpu = get_cpu(); // expect: KH2001 (the -EIO return inside the foreach leaves preemption disabled)
        foreach (byte b in frame)
        {
            if (b == 0xff)
                return -EIO;
            per_cpu(rx_bytes, cpu)++;
        }
        put_cpu();
        return 0;
    }

    public long drain_stats()
    {
        int cpu = get_cpu(); // ok: the put_cpu in the finally runs on the early return too
        try
        {
            long v = per_cpu(rx_bytes, cpu);
            if (v == 0)
                return 0;
            per_cpu(rx_bytes, cpu) = 0;
            return v;
        }
        finally { put_cpu(); }
    }

    public int overrun_count()
    {
        spin_lock_bh(rx.lk);
        int n = overruns;
        overruns = 0;
        spin_unlock(rx.lk); // expect: KH2004 (spin_lock_bh released with spin_unlock: bottom halves stay disabled)
        return n;
    }

    public void remove()
    {
        free_irq(tx_irq, this);
        free_irq(rx_irq, this);
        del_timer_sync(poll_timer);
        cancel_work_sync(refill_work);
        kfree(tx_stage);
        tx_stage = NULL;
        if (ring_pg is not null)
            __free_pages(ring_pg, 1);
        ring_pg = null;
        kfree(dma_buf);
        dma_buf = NULL;
    }
}

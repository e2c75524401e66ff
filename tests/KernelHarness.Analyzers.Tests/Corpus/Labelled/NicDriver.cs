// A NIC driver with the bugs students write most often. Each expected finding is marked at the end
// of its line with "expect: KHnnnn".
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.Nic;

public sealed class Nic
{
    private readonly spinlock_t tx_lock = new();
    private readonly mutex cfg_lock = new();
    private readonly tasklet_struct tx_tasklet = new();
    private readonly work_struct reset_work = new();
    private kptr ring = NULL;
    private int pending;
    private uint irq;

    public int probe(uint line)
    {
        irq = line;
        tasklet_setup(tx_tasklet, t => tx_complete());
        INIT_WORK(reset_work, w => reset());
        return request_irq(irq, nic_isr, IRQF_SHARED, "nic", this);
    }

    private irqreturn_t nic_isr(int n, object? dev)
    {
        spin_lock(tx_lock);
        pending++;
        spin_unlock(tx_lock);
        refill_ring(); // expect: KH1001
        log_state(GFP_KERNEL); // expect: KH1002
        tasklet_schedule(tx_tasklet);
        return IRQ_HANDLED;
    }

    private void refill_ring()
    {
        ring = kzalloc(4096, GFP_KERNEL);
    }

    private void log_state(gfp_t gfp)
    {
        var msg = kmalloc(128, gfp);
        kfree(msg);
    }

    private void tx_complete()
    {
        var tmp = kmalloc(256, GFP_KERNEL); // expect: KH1002
        kfree(tmp);
        spin_lock_irqsave(tx_lock, out var flags);
        pending = 0;
        spin_unlock(tx_lock); // expect: KH2004
    }

    private void reset()
    {
        var b = kmalloc(64, GFP_ATOMIC); // expect: KH1003
        mutex_lock(cfg_lock); // expect: KH2003
        if (b == NULL)
            return;
        kfree(b);
        mutex_unlock(cfg_lock);
    }

    public int configure(int mtu)
    {
        spin_lock(tx_lock); // expect: KH2003
        if (mtu < 68)
            return -EINVAL;
        mutex_lock(cfg_lock); // expect: KH1001
        mutex_unlock(cfg_lock);
        spin_unlock(tx_lock);
        return 0;
    }
}

"""A faithful PyTorch ShuffleNet v1: the structure, state_dict names and channel shuffle
order of Megvii's official ShuffleNet-Series implementation (paper Table 1), written from
../shared/reference/architectures.md. Used only to make reference fixtures."""
import torch
import torch.nn as nn
import torch.nn.functional as F

CHANNELS = {
    (1, "1.0x"): [24, 144, 288, 576],
    (2, "1.0x"): [24, 200, 400, 800],
    (3, "0.5x"): [12, 120, 240, 480], (3, "1.0x"): [24, 240, 480, 960],
    (3, "1.5x"): [24, 360, 720, 1440], (3, "2.0x"): [48, 480, 960, 1920],
    (4, "1.0x"): [24, 272, 544, 1088],
    (8, "0.5x"): [16, 192, 384, 768], (8, "1.0x"): [24, 384, 768, 1536],
    (8, "1.5x"): [24, 576, 1152, 2304], (8, "2.0x"): [48, 768, 1536, 3072],
}


class ShuffleV1Block(nn.Module):
    def __init__(self, inp, oup, *, group, first_group, mid_channels, stride):
        super().__init__()
        self.stride = stride
        self.group = group
        outputs = oup - inp if stride == 2 else oup
        self.branch_main_1 = nn.Sequential(
            nn.Conv2d(inp, mid_channels, 1, 1, 0, groups=1 if first_group else group, bias=False),
            nn.BatchNorm2d(mid_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, mid_channels, 3, stride, 1, groups=mid_channels, bias=False),
            nn.BatchNorm2d(mid_channels),
        )
        self.branch_main_2 = nn.Sequential(
            nn.Conv2d(mid_channels, outputs, 1, 1, 0, groups=group, bias=False),
            nn.BatchNorm2d(outputs),
        )
        if stride == 2:
            self.branch_proj = nn.AvgPool2d(kernel_size=3, stride=2, padding=1)

    def forward(self, old_x):
        x = self.branch_main_1(old_x)
        if self.group > 1:
            x = self.channel_shuffle(x)
        x = self.branch_main_2(x)
        if self.stride == 1:
            return F.relu(x + old_x)
        return torch.cat((self.branch_proj(old_x), F.relu(x)), 1)

    def channel_shuffle(self, x):
        n, c, h, w = x.shape
        x = x.reshape(n, c // self.group, self.group, h, w)
        x = x.permute(0, 2, 1, 3, 4)
        return x.reshape(n, c, h, w)


class ShuffleNetV1(nn.Module):
    def __init__(self, group=3, model_size="1.0x", n_class=1000, channels=None, stage_repeats=(4, 8, 4)):
        super().__init__()
        channels = channels or CHANNELS[(group, model_size)]
        input_channel = channels[0]
        self.first_conv = nn.Sequential(
            nn.Conv2d(3, input_channel, 3, 2, 1, bias=False),
            nn.BatchNorm2d(input_channel),
            nn.ReLU(inplace=True),
        )
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        features = []
        for idxstage, numrepeat in enumerate(stage_repeats):
            output_channel = channels[idxstage + 1]
            for i in range(numrepeat):
                stride = 2 if i == 0 else 1
                features.append(ShuffleV1Block(input_channel, output_channel, group=group,
                                               first_group=idxstage == 0 and i == 0,
                                               mid_channels=output_channel // 4, stride=stride))
                input_channel = output_channel
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Linear(channels[-1], n_class, bias=False))

    def forward(self, x):
        x = self.maxpool(self.first_conv(x))
        x = self.features(x)
        x = x.mean([2, 3])  # Megvii's AvgPool2d(7) on the 7x7 map
        return self.classifier(x)

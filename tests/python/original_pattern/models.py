"""The digits CNN of the original Ravnest's example, layer for layer: it ends in a softmax, and its loss is the
mean squared error against one-hot labels."""

import torch.nn as nn


class CNN_Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv2d_1 = nn.Conv2d(1, 16, kernel_size=(3, 3), padding="same")
        self.act_1 = nn.ReLU()
        self.maxpool2d_1 = nn.MaxPool2d(kernel_size=(2, 2), stride=2)
        self.drp_1 = nn.Dropout(0.25)
        self.bn_1 = nn.BatchNorm2d(16)
        self.maxpool2d_2 = nn.MaxPool2d(kernel_size=(2, 2), stride=2)
        self.conv2d_2 = nn.Conv2d(16, 32, kernel_size=(3, 3), padding="same")
        self.act_2 = nn.ReLU()
        self.maxpool2d_3 = nn.MaxPool2d(kernel_size=(2, 2), stride=2)
        self.drp_2 = nn.Dropout(0.25)
        self.bn_2 = nn.BatchNorm2d(32)
        self.flatten = nn.Flatten()
        self.dense_1 = nn.Linear(32, 256)
        self.act_3 = nn.ReLU()
        self.drp_3 = nn.Dropout(0.4)
        self.bn_3 = nn.BatchNorm1d(256)
        self.dense_2 = nn.Linear(256, 10)
        self.act_4 = nn.Softmax(dim=-1)

    def forward(self, x):
        x = self.bn_1(self.drp_1(self.maxpool2d_1(self.act_1(self.conv2d_1(x)))))
        x = self.maxpool2d_2(x)
        x = self.bn_2(self.drp_2(self.maxpool2d_3(self.act_2(self.conv2d_2(x)))))
        x = self.bn_3(self.drp_3(self.act_3(self.dense_1(self.flatten(x)))))
        return self.act_4(self.dense_2(x))
